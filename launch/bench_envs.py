"""Env-only speed: MJX control steps/s per task and batch size, against native MuJoCo on one core.

    python -m launch.bench_envs [--tasks all] [--batch_sizes 1,64,1024,4096] [--skip_done]
    python -m launch.bench_envs --tasks swimmer_swimmer6 --batch_sizes 64,1024 --replace

Writes results/bench_envs_<platform><tag>.json and .md, rewritten after every task (a stopped run
keeps what it measured; `--skip_done` continues it; `--replace` re-measures some rows in place).
MJX timings are of one jitted, vmapped control step (actions random, with the auto-reset wrapper
off), after compile, compiled as evaluation compiles it (`jax_setup.jit_env`: one env without
XLA:CPU's fusion emitters, marked in the table; rows measured before that change lack the mark;
`--fusion_emitters on|off` overrides the rule, e.g. with `--tag`, to compare); "physics steps/s" =
control steps/s x substeps.
Native: mujoco.mj_step in a Python loop over one env, the same model and substeps, on one core.
"""

import fnmatch
import json
import os
import time

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from absl import app, flags

import envs
from envs.jax_setup import jit_env, without_fusion_emitters
from launch import bench_rows
from launch.common import header, machine_info

flags.DEFINE_list("tasks", ["cheetah_run"], "tasks (or 'all')")
flags.DEFINE_list("batch_sizes", ["1", "64", "1024", "4096"], "env counts")
flags.DEFINE_float("seconds", 2.0, "time spent measuring each point after compile")
flags.DEFINE_string("out", "results", "output folder")
flags.DEFINE_bool("skip_done", False, "keep the rows already in the output JSON, measure the rest")
flags.DEFINE_float("max_call_s", 60.0, "skip a batch size whose one call would take longer")
flags.DEFINE_list("batch1_only", [], "tasks (fnmatch patterns) measured at one env only; their "
                  "other batches are recorded as not run (for programs too slow to compile: "
                  "dog's took over 15 min at 64 envs on 2 CPU cores)")  # fmt: skip
flags.DEFINE_bool("replace", False, "keep the rows already in the output JSON, measure --tasks "
                  "at --batch_sizes again and put each new row in place of the saved row of its "
                  "task and batch (e.g. after a change that affects some tasks)")  # fmt: skip
flags.DEFINE_string("tag", "", "appended to the output file names (bench_envs_<platform><tag>)")
flags.DEFINE_enum("fusion_emitters", "auto", ["auto", "on", "off"], "XLA:CPU fusion emitters: "
                  "auto = jax_setup.jit_env's rule (off for one env on CPU), on = XLA's default "
                  "at every batch size, off = off at every batch size")  # fmt: skip
FLAGS = flags.FLAGS


def bench_mjx(env, n: int) -> dict:
    state = jit_env(jax.vmap(env.reset), n, env)(jax.random.split(jax.random.PRNGKey(0), n))
    action = jax.random.uniform(jax.random.PRNGKey(1), (n, env.action_size), minval=-1, maxval=1)
    t0 = time.perf_counter()
    step = (
        jit_env(jax.vmap(env.step), n, env, emitters=_emitters_flag())
        .lower(state, action)
        .compile()
    )
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = jax.block_until_ready(step(state, action))  # warm-up call
    first_s = time.perf_counter() - t0
    if first_s > FLAGS.max_call_s:  # too slow to repeat: the warm-up call is the measurement
        return _mjx_row(env, n, compile_s, n / first_s, state, calls=1)
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < FLAGS.seconds or iters < 2:
        state = step(state, action)
        iters += 1
    jax.block_until_ready(state)
    return _mjx_row(env, n, compile_s, iters * n / (time.perf_counter() - t0), state, iters)


def _emitters_flag():
    """--fusion_emitters as jit_env's override: None (the rule), True or False."""
    return {"auto": None, "on": True, "off": False}[FLAGS.fusion_emitters]


def _no_emitters(n: int, env) -> bool:
    return without_fusion_emitters(n, env, _emitters_flag())


def _mjx_row(env, n, compile_s, sps, state, calls) -> dict:
    return dict(batch=n, compile_s=compile_s, control_sps=sps, physics_sps=sps * env.n_substeps,
                timed_calls=calls, finite=bool(jnp.all(jnp.isfinite(state.obs))),
                no_fusion_emitters=_no_emitters(n, env),
                measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))  # fmt: skip


def bench_task(env, sizes, saved=()) -> list:
    """Rows for one task; a batch whose call would take over --max_call_s (extrapolated linearly
    from the last measured batch, or from the largest smaller one of the `saved` rows) is
    recorded as skipped instead of measured."""
    rows, per_env_s = [], bench_rows.per_env_s(saved, min(sizes))
    base = dict(task=env.name, substeps=env.n_substeps, native_control_sps=bench_native(env))
    batch1_only = any(fnmatch.fnmatch(env.name, p) for p in FLAGS.batch1_only)
    for n in sizes:
        if batch1_only and n > 1:
            rows.append(dict(base, batch=n, skipped="not run (--batch1_only: slow compile)"))
        elif per_env_s is not None and per_env_s * n > FLAGS.max_call_s:
            rows.append(dict(base, batch=n, skipped=f"~{per_env_s * n:.3g} s per call"))
        else:
            rows.append(dict(base, **bench_mjx(env, n)))
            per_env_s = 1.0 / rows[-1]["control_sps"]
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_native(env) -> float:
    m = env.mj_model
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    rng = np.random.default_rng(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < FLAGS.seconds:
        d.ctrl[:] = rng.uniform(-1, 1, m.nu)
        mujoco.mj_step(m, d, env.n_substeps)
        n += 1
    return n / (time.perf_counter() - t0)


def main(_):
    info = machine_info()
    tasks = envs.names() if FLAGS.tasks == ["all"] else FLAGS.tasks
    rows, runs = _saved(info) if FLAGS.skip_done or FLAGS.replace else ([], [])
    runs = runs + [dict(date=info["date"], command=info["command"])]
    done = set() if FLAGS.replace else {r["task"] for r in rows}
    total = len(set(tasks) | {r["task"] for r in rows})
    for name in tasks:
        if name in done:
            continue
        saved = [r for r in rows if r["task"] == name]
        rows = bench_rows.merge(
            rows, bench_task(envs.load(name), list(map(int, FLAGS.batch_sizes)), saved)
        )
        # after each task, so that a stopped run keeps what it measured
        write(info, rows, runs, done=len({r["task"] for r in rows}), total=total)


def _stem(info) -> str:
    return os.path.join(FLAGS.out, f"bench_envs_{info['platform']}{FLAGS.tag}")


def _saved(info) -> tuple[list, list]:
    """(rows, runs) of the output JSON: its rows and the runs that wrote them (oldest first)."""
    if not os.path.exists(_stem(info) + ".json"):
        return [], []
    with open(_stem(info) + ".json") as f:
        saved = json.load(f)
    return saved["rows"], saved.get("runs") or [
        {k: saved["machine"][k] for k in ("date", "command")}
    ]


def write(info, rows, runs, done: int, total: int) -> None:
    os.makedirs(FLAGS.out, exist_ok=True)
    stem = _stem(info)
    with open(stem + ".json", "w") as f:
        out = dict(machine=info, runs=runs, tasks_done=done, tasks_total=total, rows=rows)
        json.dump(out, f, indent=1)
    partial = "" if done == total else f"\n**Partial: {done} of {total} tasks measured.**\n"
    when = sorted(r["measured"] for r in rows if "measured" in r)
    timed = [r for r in rows if "skipped" not in r]
    older = " (older rows carry no time)" if len(when) < len(timed) else ""
    span = f"\nRows measured {when[0]} to {when[-1]}{older}.\n" if when else ""
    if len(runs) > 1:  # --skip_done / --replace: rows from several runs, the last one above
        span += (
            "\nThe runs that wrote these rows, oldest first (each row's time is in the JSON):\n\n"
        )
        span += "".join(f"- {r['date']}: `{r['command']}`\n" for r in runs)
    lines = [
        "# Env-only speed\n",
        header(info) + partial + span,
        "Compile s: lower + compile of the vmapped step (the first call is run untimed after it, "
        "unless it took over the limit below: then it is the only timed call). "
        f"A batch whose one call would exceed {FLAGS.max_call_s:g} s (extrapolated from "
        "the previous batch) is skipped. †: compiled without XLA:CPU's fusion emitters "
        f"(`--fusion_emitters {FLAGS.fusion_emitters}`; auto: `jax_setup.jit_env`, one env).\n",
        "| task | substeps | envs | compile s | MJX control steps/s | MJX physics steps/s "
        "| native MuJoCo control steps/s (1 core) | MJX / native |",
        "|---|---:|" + "---:|" * 6,
    ]
    lines += [_row(r) for r in rows]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


def _row(r) -> str:
    head = f"| {r['task']} | {r['substeps']} | {r['batch']} |"
    if "skipped" in r:
        return head + f" skipped: {r['skipped']} | | | {r['native_control_sps']:,.0f} | |"
    mark = "†" if r.get("no_fusion_emitters") else ""
    return head + (
        f" {r['compile_s']:.1f}{mark} | {r['control_sps']:,.0f} | {r['physics_sps']:,.0f} | "
        f"{r['native_control_sps']:,.0f} | {r['control_sps'] / r['native_control_sps']:.2f} |"
    )


if __name__ == "__main__":
    app.run(main)
