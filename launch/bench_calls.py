"""What the runner's call size and n-step targets cost per training iteration.

    python -m launch.bench_calls --task cheetah_run --num_envs 1024 --iters 10

The runner (flowrl_mjx/runtime/runner.py) runs `iters_per_call` iterations per jitted call (auto:
one on CPU, so that a stop waits for one iteration) and combines the calls of an epoch on the host.
This times one epoch of `--iters` iterations as one call against `--iters` calls of one
iteration, each with and without 3-step targets, for the same task and recipe (the `gpu`
preset's numbers at --num_envs, 128-wide networks, no warm-up so every iteration learns).
Writes results/bench_calls/<task>_<num_envs>.{json,md}.
"""

import json
import os
import time

import jax
import numpy as np
from absl import app, flags

import envs
from flowrl_mjx.algorithm import presets, train
from flowrl_mjx.runtime import mjx_backend
from launch.common import machine_info

flags.DEFINE_string("task", "cheetah_run", "task")
flags.DEFINE_integer("num_envs", 1024, "envs")
flags.DEFINE_integer("iters", 10, "iterations per epoch")
flags.DEFINE_integer("epochs", 3, "timed epochs per variant (after one untimed)")
flags.DEFINE_integer("replay_size", 1_000_000, "replay capacity")
flags.DEFINE_string("out", "results/bench_calls", "output folder")
FLAGS = flags.FLAGS

NARROW = dict(actor_hidden=(128, 128), critic_hidden=(128,), value_hidden=(128,))


def time_variant(env, iters_per_call: int, n_step: int) -> dict:
    cfg, loop = presets.build("gpu", num_envs=FLAGS.num_envs, iters_per_epoch=FLAGS.iters,
                              iters_per_call=iters_per_call, warmup_steps=0, n_step=n_step,
                              replay_size=FLAGS.replay_size, **NARROW)  # fmt: skip
    one = mjx_backend.call_loop(loop)
    calls = FLAGS.iters // one.iters_per_epoch
    venv, step, _ = mjx_backend.programs(cfg, one, env)
    ts = train.init(jax.random.PRNGKey(0), cfg, one, venv)

    def epoch(ts):
        parts = []
        for _ in range(calls):
            ts, metrics = step(ts)
            parts.append(jax.device_get(metrics))  # as the runner reads them
        return ts

    t = time.time()
    ts = epoch(ts)  # compile + one epoch
    first = time.time() - t
    times = []
    for _ in range(FLAGS.epochs):
        t = time.time()
        ts = epoch(ts)
        times.append(time.time() - t)
    per_iter = float(np.median(times)) / FLAGS.iters
    return dict(iters_per_call=one.iters_per_epoch, calls_per_epoch=calls, n_step=n_step,
                batch_size=cfg.batch_size, updates_per_iter=cfg.updates_per_iter,
                first_epoch_s=first, epoch_s=times, s_per_iteration=per_iter)  # fmt: skip


def main(argv):
    del argv
    env = envs.load(FLAGS.task)
    rows = []
    for per_call in (FLAGS.iters, 1):
        for n_step in (1, 3):
            row = time_variant(env, per_call, n_step)
            print(json.dumps(row), flush=True)
            rows.append(row)
    os.makedirs(FLAGS.out, exist_ok=True)
    name = f"{FLAGS.task}_{FLAGS.num_envs}"
    record = dict(machine=machine_info(), task=FLAGS.task, num_envs=FLAGS.num_envs,
                  iters_per_epoch=FLAGS.iters, rows=rows)  # fmt: skip
    with open(os.path.join(FLAGS.out, f"{name}.json"), "w") as f:
        json.dump(record, f, indent=1)
    lines = [f"# Call size and n-step cost: {FLAGS.task}, {FLAGS.num_envs} envs", "",
             f"{record['machine']['date']}; `{record['machine']['command']}`. gpu preset at "
             f"{FLAGS.num_envs} envs, 128-wide networks, epochs of {FLAGS.iters} iterations; "
             f"median of {FLAGS.epochs} timed epochs after one with the compile.", "",
             "| iterations per call | calls per epoch | n_step | batch | K | s / iteration "
             "| first epoch s (compile) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['iters_per_call']} | {r['calls_per_epoch']} | {r['n_step']} | "
                     f"{r['batch_size']} | {r['updates_per_iter']} | "
                     f"{r['s_per_iteration']:.3f} | {r['first_epoch_s']:.1f} |")  # fmt: skip
    with open(os.path.join(FLAGS.out, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
