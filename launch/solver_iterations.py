"""How many constraint-solver iterations a task's MJX step uses, and what a lower cap costs.

    python -m launch.solver_iterations --task dog_run --num_envs 64 --caps 100,20,10,5,2

The batched env is reset and stepped `--warm_steps` control steps with uniform random actions
(so contacts are in play); on the resulting states the position, velocity, actuation and
acceleration stages run once, then the constraint solve (`solver.solve`, jitted as the env's
programs are, `jax_setup.jit_env`) is timed for each iteration cap (the model's own cap first, the
reference). Per cap: run ms per call of the batch and the largest |qacc| difference from the
reference, absolute and relative to the largest reference |qacc|. MJX's solver does not report
its iteration count (it leaves Data.solver_niter unset), so where it stops shows as the smallest
cap whose qacc equals the reference's (a batched while loop runs until the slowest env stops).
Writes
OUT/solver_iterations_<task>.json and .md.
"""

import json
import os

import jax
import numpy as np
from absl import app, flags

from envs import jax_setup
from launch.common import header, load_task, machine_info, seconds_per_call, write_json_md

flags.DEFINE_string("task", "dog_run", "task (envs.names())")
flags.DEFINE_integer("num_envs", 64, "batch")
flags.DEFINE_integer("warm_steps", 20, "random-action control steps before measuring")
flags.DEFINE_list(
    "caps", ["20", "10", "8", "6", "5", "4", "3", "2"], "iteration caps besides the model's own"
)
flags.DEFINE_float("seconds", 2.0, "time spent timing each cap")
flags.DEFINE_string("out", "results/dog", "output folder")
FLAGS = flags.FLAGS


def _prepared(env, n: int, warm: int):
    """Batched Data after `warm` random control steps, its substep stages up to the solve run."""
    from mujoco.mjx._src import forward

    from envs import physics

    reset = jax_setup.jit_env(jax.vmap(env.reset), n, env)
    step = jax_setup.jit_env(jax.vmap(env.step), n, env)
    state = reset(jax.random.split(jax.random.PRNGKey(0), n))
    key = jax.random.PRNGKey(1)
    for _ in range(warm):
        key, k = jax.random.split(key)
        state = step(state, jax.random.uniform(k, (n, env.action_size), minval=-1, maxval=1))
    m = env.mjx_model

    def stages(d):
        d = physics.sync_position_velocity(m, d)
        return forward.fwd_acceleration(m, forward.fwd_actuation(m, d))

    return jax_setup.jit_env(jax.vmap(stages), n, env)(state.pipeline_state)


def _timed_solve(env, data, cap: int, n: int, seconds: float) -> dict:
    from mujoco.mjx._src import solver

    m = env.mjx_model
    m = m.replace(opt=m.opt.replace(iterations=cap))
    fn = jax_setup.jit_env(jax.vmap(lambda d: solver.solve(m, d)), n, env)
    per_call, calls, compile_s, out = seconds_per_call(fn, data, seconds=seconds)
    return dict(
        cap=cap, compile_and_first_s=round(compile_s, 1),
        run_ms=per_call * 1e3, calls=calls, qacc=np.asarray(out.qacc),
    )  # fmt: skip


def to_markdown(doc: dict) -> str:
    lines = [
        f"# Constraint-solver iterations: {doc['task']}, {doc['num_envs']} envs",
        "",
        header(doc["machine_info"]),
        f"States: {doc['warm_steps']} random-action control steps after reset; the solve alone "
        f"timed per iteration cap (model: {doc['model_solver']}). |dqacc|: the largest difference "
        "of qacc from the model's own cap, and that over the largest |qacc| of the reference; 0 "
        "means the cap did not stop the solver before it stopped itself.",
        "",
        "| cap | run ms | max abs dqacc | relative |",
        "|---:|---:|---:|---:|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['cap']} | {r['run_ms']:.1f} | {r['dqacc_max']:.3g} | {r['dqacc_rel']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    env = load_task(FLAGS.task)
    o = env.mj_model.opt
    own = int(o.iterations)
    data = _prepared(env, FLAGS.num_envs, FLAGS.warm_steps)
    rows, ref = [], None
    for cap in [own] + [int(c) for c in FLAGS.caps if int(c) != own]:
        row = _timed_solve(env, data, cap, FLAGS.num_envs, FLAGS.seconds)
        qacc = row.pop("qacc")
        ref = qacc if ref is None else ref
        row["dqacc_max"] = float(np.abs(qacc - ref).max())
        row["dqacc_rel"] = row["dqacc_max"] / max(float(np.abs(ref).max()), 1e-12)
        rows.append(row)
        print(json.dumps(row), flush=True)
    doc = dict(
        machine_info=machine_info(), task=FLAGS.task, num_envs=FLAGS.num_envs,
        warm_steps=FLAGS.warm_steps, rows=rows,
        model_solver=f"solver {int(o.solver)}, iterations {own}, ls_iterations "
        f"{int(o.ls_iterations)}, tolerance {o.tolerance:g}",
    )  # fmt: skip
    write_json_md(os.path.join(FLAGS.out, f"solver_iterations_{FLAGS.task}"), doc, to_markdown(doc))


if __name__ == "__main__":
    app.run(main)
