"""A floor under a task's MJX step on this machine: the Newton solve's Hessian alone.

    python -m launch.solve_bound --task dog_run --num_envs 64 --iterations 10

MJX's Newton solver forms H = M + J^T diag(D * active) J at every iteration (solver.py's
`_update_gradient`), with J the constraint Jacobian at its fixed size (nefc rows, nv columns),
whether the rows are active or not: 2 nefc nv^2 flops per env and iteration. This script times
exactly that product, batched and jitted as the env's programs are (`jax_setup.jit_env`), on
arrays of the task's own shapes, and a large float32 matmul for the machine's attainable rate.
With `--iterations` (where the solver stops by itself: launch/solver_iterations.py) and the
task's substeps it gives the most control steps/s the step could reach if the Hessian were the
only work in it, at the measured rate and at the matmul rate. Writes OUT/solve_bound_<task>.json
and .md.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import mujoco
from absl import app, flags

from envs import jax_setup
from launch.common import header, load_task, machine_info, seconds_per_call, write_json_md

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Only when run as a script: tests import this module beside other launch scripts whose
    flags share names (task, num_envs, out)."""
    flags.DEFINE_string("task", "dog_run", "task (envs.names())")
    flags.DEFINE_integer("num_envs", 64, "batch")
    flags.DEFINE_integer("iterations", 10, "Newton iterations per solve (where the solver stops)")
    flags.DEFINE_integer("matmul_size", 2048, "side of the square float32 matmul (attainable rate)")
    flags.DEFINE_float("seconds", 2.0, "time spent timing each program")
    flags.DEFINE_float("target", 450.0, "control steps/s the issue asks for (the table compares)")
    flags.DEFINE_string("out", "results/dog", "output folder")


def constraint_shape(env) -> dict:
    """nefc and nv of the task's MJX Data (MJX sizes efc_J for every contact slot)."""
    from mujoco import mjx

    d = mjx.make_data(env.mj_model)
    nefc, nv = d._impl.efc_J.shape
    return {"nefc": int(nefc), "nv": int(nv), "substeps": int(env.n_substeps)}


def hessian_seconds(n: int, nefc: int, nv: int, env, seconds: float) -> float:
    """Per call: MJX's Newton Hessian term (J^T * D * active) @ J for `n` envs."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    jac = jax.random.normal(k1, (n, nefc, nv), jnp.float32)
    efc_d = jax.random.uniform(k2, (n, nefc), jnp.float32)
    active = jax.random.uniform(k3, (n, nefc)) < 0.5
    fn = jax_setup.jit_env(jax.vmap(lambda j, d, a: (j.T * d * a) @ j), n, env)
    return seconds_per_call(fn, jac, efc_d, active, seconds=seconds, min_calls=3)[0]


def matmul_gflops(size: int, seconds: float) -> float:
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    s = seconds_per_call(jax.jit(lambda x: x @ x), a, seconds=seconds, min_calls=3)[0]
    return 2 * size**3 / s / 1e9


def bound(shape: dict, n: int, iterations: int, hessian_s: float, peak_gflops: float) -> dict:
    """The figures: flops and seconds of the Hessians of one control step, and the control steps/s
    they alone would allow (at the measured batched rate, and at the matmul rate)."""
    flops_h = 2 * shape["nefc"] * shape["nv"] ** 2
    per_control = shape["substeps"] * iterations  # Hessians per env and control step
    measured_gflops = n * flops_h / hessian_s / 1e9
    return {
        "flops_per_hessian": flops_h,
        "hessians_per_control_step": per_control,
        "mflop_per_control_step": flops_h * per_control / 1e6,
        "hessian_ms_per_call": hessian_s * 1e3,
        "hessian_gflops": measured_gflops,
        "matmul_gflops": peak_gflops,
        "max_control_steps_per_s_measured": n / (per_control * hessian_s),
        "max_control_steps_per_s_matmul_rate": peak_gflops * 1e9 / (flops_h * per_control),
    }


def to_markdown(doc: dict) -> str:
    b, s = doc["bound"], doc["shape"]
    return "\n".join(
        [
            f"# The Newton Hessian's floor under {doc['task']}'s step ({doc['num_envs']} envs)",
            "",
            header(doc["machine_info"]),
            f"MJX sizes the constraint system for every contact slot: nefc {s['nefc']} rows, nv "
            f"{s['nv']}; each Newton iteration forms J^T D J ({b['flops_per_hessian'] / 1e6:.1f} "
            f"MFLOP per env) whether rows are active or not. {doc['iterations']} iterations (where "
            f"the solver stops by itself) x {s['substeps']} substeps = "
            f"{b['hessians_per_control_step']} Hessians, "
            f"{b['mflop_per_control_step']:.0f} MFLOP per env and control step.",
            "",
            "| | value |",
            "|---|---:|",
            f"| Hessian, one call of {doc['num_envs']} envs (ms) | "
            f"{b['hessian_ms_per_call']:.1f} |",
            f"| its rate (GFLOP/s) | {b['hessian_gflops']:.1f} |",
            f"| float32 matmul {doc['matmul_size']}^3 (GFLOP/s) | {b['matmul_gflops']:.1f} |",
            "| control steps/s if the Hessians were all the step did, at the measured rate | "
            f"{b['max_control_steps_per_s_measured']:.0f} |",
            f"| the same at the matmul rate | {b['max_control_steps_per_s_matmul_rate']:.0f} |",
            f"| target | {doc['target']:.0f} |",
            "",
        ]
    )


def main(argv):
    del argv
    env = load_task(FLAGS.task)
    o = env.mj_model.opt
    if o.solver != mujoco.mjtSolver.mjSOL_NEWTON or o.cone != mujoco.mjtCone.mjCONE_PYRAMIDAL:
        # elliptic cones form J^T C J with a dense nefc x nefc C: another count
        print(
            f"error: {FLAGS.task}: this bound is for the Newton solver with pyramidal cones",
            file=sys.stderr,
        )
        sys.exit(2)
    shape = constraint_shape(env)
    n = FLAGS.num_envs
    hessian_s = hessian_seconds(n, shape["nefc"], shape["nv"], env, FLAGS.seconds)
    peak = matmul_gflops(FLAGS.matmul_size, FLAGS.seconds)
    doc = dict(
        machine_info=machine_info(),
        task=FLAGS.task,
        num_envs=n,
        iterations=FLAGS.iterations,
        matmul_size=FLAGS.matmul_size,
        target=FLAGS.target,
        shape=shape,
        bound=bound(shape, n, FLAGS.iterations, hessian_s, peak),
    )
    print(json.dumps(doc["bound"]), flush=True)
    write_json_md(os.path.join(FLAGS.out, f"solve_bound_{FLAGS.task}"), doc, to_markdown(doc))


if __name__ == "__main__":
    define_flags()
    app.run(main)
