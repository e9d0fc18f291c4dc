"""The random policy's return on real dm_control tasks: the floor a learning curve must clear.

    python -m launch.random_returns --tasks dog_stand,dog_walk --episodes 10

Each episode is real dm_control (native MuJoCo, its own stepping and reward) from task seed
`seed + i`, actions drawn i.i.d. uniform in the action spec's bounds every control step from a
numpy generator of the same seed. Writes OUT/random_returns.json (machine, command, per-task
episode returns, mean, std, min, max) and OUT/random_returns.md; `--append` keeps the other
tasks' rows.
"""

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

import envs
from envs import dmc, registry
from launch.common import header, machine_info

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Only when run as a script: tests import this module beside other launch scripts whose
    flags share names (tasks, seed, out)."""
    flags.DEFINE_list("tasks", ["dog_stand"], "tasks (envs.names())")
    flags.DEFINE_integer("episodes", 10, "episodes per task")
    flags.DEFINE_integer("seed", 0, "first task seed (episode i uses seed + i)")
    flags.DEFINE_string("out", "results", "output folder")
    flags.DEFINE_bool("append", True, "keep the rows of tasks this run does not measure")


def episode_return(domain: str, task: str, seed: int) -> float:
    """One full episode of uniform random actions; the undiscounted sum of dm_control's rewards."""
    env = dmc.quietly(lambda: dmc.load(domain, task, seed))
    spec = env.action_spec()
    rng = np.random.default_rng(seed)
    ts, total = env.reset(), 0.0
    while not ts.last():
        ts = env.step(rng.uniform(spec.minimum, spec.maximum, spec.shape))
        total += float(ts.reward or 0.0)
    return total


def task_row(name: str, episodes: int, seed: int) -> dict:
    cls = registry.get_class(name)
    t0 = time.perf_counter()
    returns = [episode_return(cls.domain, cls.task, seed + i) for i in range(episodes)]
    r = np.asarray(returns)
    return dict(
        task=name, episodes=episodes, seeds=f"{seed}-{seed + episodes - 1}",
        returns=[round(x, 2) for x in returns], mean=float(r.mean()), std=float(r.std()),
        min=float(r.min()), max=float(r.max()), seconds=round(time.perf_counter() - t0, 1),
    )  # fmt: skip


def to_markdown(doc: dict) -> str:
    lines = [
        "# The random policy's return (real dm_control)",
        "",
        header(doc["machine_info"]),
        "Uniform random actions in the action spec's bounds, every control step, full episodes of "
        "real dm_control (`python -m launch.random_returns`); episode i uses task seed seed + i.",
        "",
        "| task | episodes | seeds | mean | std | min | max |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in sorted(doc["rows"], key=lambda r: r["task"]):
        lines.append(
            f"| {row['task']} | {row['episodes']} | {row['seeds']} | {row['mean']:.1f} | "
            f"{row['std']:.1f} | {row['min']:.1f} | {row['max']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    unknown = [t for t in FLAGS.tasks if t not in envs.names()]
    if unknown:
        print(f"error: unknown task(s) {', '.join(unknown)} (see envs.names())", file=sys.stderr)
        sys.exit(2)
    path = os.path.join(FLAGS.out, "random_returns.json")
    rows = {}
    if FLAGS.append and os.path.exists(path):
        with open(path) as f:
            rows = {r["task"]: r for r in json.load(f)["rows"]}
    for name in FLAGS.tasks:
        rows[name] = task_row(name, FLAGS.episodes, FLAGS.seed)
        print(json.dumps(rows[name]), flush=True)
    doc = dict(machine_info=machine_info(), rows=list(rows.values()))
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(FLAGS.out, "random_returns.md"), "w") as f:
        f.write(to_markdown(doc))


if __name__ == "__main__":
    define_flags()
    app.run(main)
