"""Compile time as a figure: each task's env step and fused training program at one env count.

    python -m launch.compile_table                       # the paper's tasks at 1,024 envs
    python -m launch.compile_table --tasks dog_run,walker_run --num_envs 1024 --append

For each task two programs are lowered and compiled from shapes alone (nothing runs, no state is
allocated), each in its own process so that one compile's memory and caches do not reach the next:
- env step: the vmapped control step as bench_envs and evaluation compile it
  (`jax_setup.jit_env(jax.vmap(env.step))`);
- epoch: the training program `python -m flowrl_mjx.launch --task T --num_envs N` compiles (one
  seed, the preset that env count gets, its default widths, the iterations of one call:
  `mjx_backend.call_loop` and `programs`): policy sampling, env step, replay insert and K updates
  fused in one jitted call.
Each row records trace + lower seconds (`jax.jit(f).lower(...)`) and XLA compile seconds
(`.compile()`). A program past --max_s is killed; its row keeps the phase it was in and the
elapsed time. The persistent compilation cache is off in the workers (a cached compile is not a
compile). Writes OUT/compile_table_<platform>.json and .md, rewritten after every row.
"""

import json
import os
import sys
import time

from absl import app, flags

from launch import worker

FLAGS = flags.FLAGS
PROGRAMS = ("env_step", "epoch")


def _compile(job: dict) -> dict:
    """Lowers and compiles one program from shapes; its row (seconds, and the epoch's recipe)."""
    import jax

    import envs
    from envs.jax_setup import jit_env, without_fusion_emitters

    worker.send("phase", phase="setup")
    env, n = envs.load(job["task"]), job["num_envs"]
    row = {}
    if job["program"] == "env_step":
        keys = jax.random.split(jax.random.PRNGKey(0), n)
        state = jax.eval_shape(jax.vmap(env.reset), keys)
        action = jax.ShapeDtypeStruct((n, env.action_size), jax.numpy.float32)
        fn, args = jit_env(jax.vmap(env.step), n, env), (state, action)
        row["no_fusion_emitters"] = without_fusion_emitters(n, env, None)
    else:
        from flowrl_mjx.algorithm import presets, train
        from flowrl_mjx.runtime import mjx_backend

        preset = presets.default_preset(n, jax.default_backend())
        cfg, loop = presets.build(preset, num_envs=n)
        loop = mjx_backend.call_loop(loop)
        venv, fn, _ = mjx_backend.programs(cfg, loop, env)
        args = (train.abstract_state(cfg, loop, venv),)
        row.update(
            preset=preset,
            batch_size=cfg.batch_size,
            updates_per_iter=cfg.updates_per_iter,
            iters_per_call=loop.iters_per_epoch,
            actor_hidden=list(cfg.actor_hidden),
            critic_hidden=list(cfg.critic_hidden),
            no_fusion_emitters=without_fusion_emitters(None, env, None),
        )
    worker.send("phase", phase="lower")
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    row["lower_s"] = time.perf_counter() - t0
    worker.send("phase", phase="compile")
    t0 = time.perf_counter()
    lowered.compile()
    row["compile_s"] = time.perf_counter() - t0
    return dict(row, status="ok")


def worker_loop() -> None:
    """The child: jobs on stdin, with the persistent compilation cache off (a cached compile is
    not a compile)."""
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    worker.serve(_compile)


def table_row(row: dict, phase: str) -> dict:
    """The table's wording of a worker's row: ok as the program reported it; timed_out with the
    phase and elapsed seconds; an error is `failed`, with the exception's own line."""
    if row["status"] == "ok":
        return {k: v for k, v in row.items() if k != "elapsed_s"}
    if row["status"] == "timed_out":
        return dict(status="timed_out", phase=row["phase"], elapsed_s=row["elapsed_s"])
    note = (row.get("note") or "").strip() or "(no message)"
    return dict(status="failed", phase=row.get("phase", phase), error=note.splitlines()[0][:300])


def run_job(job: dict, max_s: float) -> dict:
    """One program in a fresh worker process (its own memory and caches), `max_s` for the whole
    job: its row, or a timed_out / failed row with the phase."""
    child = worker.Worker("launch.compile_table")
    try:
        row = child.run(job, job_limit_s=max_s)
    finally:
        child.close()
    return table_row(row, child.phase)


def _seconds(r: dict, key: str) -> str:
    if r.get("status") == "ok":
        return f"{r[key]:.1f}"
    if r.get("status") == "timed_out" and r.get("phase") == key.removesuffix("_s"):
        return f"> {r['elapsed_s']:.0f} (timed out)"
    return "-"


def markdown(info: dict, rows: list, max_s: float) -> str:
    from launch.common import header

    lines = [
        "# Compile time: env step and fused training epoch\n",
        header(info),
        "Both programs are lowered and compiled from shapes, each in a fresh process with the "
        f"persistent compilation cache off; a program past {max_s:g} s is stopped. env step: "
        "`jit_env(vmap(env.step))` as bench_envs compiles it; epoch: the training program of "
        "`python -m flowrl_mjx.launch --task T --num_envs N` (one seed, that env count's preset, "
        "default widths and iterations per call). lower s: trace + lower; compile s: XLA. †: "
        "compiled without XLA:CPU's fusion emitters (the task's rule, results/perf_changes.md).\n",
        "| task | envs | env step lower s | env step compile s | epoch lower s "
        "| epoch compile s | epoch recipe | notes |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    by = {(r["task"], r["num_envs"], r["program"]): r for r in rows}
    for task, n in dict.fromkeys((r["task"], r["num_envs"]) for r in rows):
        env, ep = by.get((task, n, "env_step"), {}), by.get((task, n, "epoch"), {})
        mark = lambda r: "†" if r.get("no_fusion_emitters") else ""
        recipe = (
            f"{ep['preset']}: batch {ep['batch_size']}, K {ep['updates_per_iter']}, "
            f"{ep['iters_per_call']} iteration(s) per call, "
            f"actor {'x'.join(map(str, ep['actor_hidden']))}"
            if "preset" in ep
            else "-"
        )
        notes = "; ".join(
            f"{p}: {r['status']} in {r.get('phase')}" + (f" ({r['error']})" if "error" in r else "")
            for p, r in (("env step", env), ("epoch", ep))
            if r and r.get("status") != "ok"
        )
        lines.append(
            f"| {task} | {n:,} | {_seconds(env, 'lower_s')} | {_seconds(env, 'compile_s')}"
            f"{mark(env)} | {_seconds(ep, 'lower_s')} | {_seconds(ep, 'compile_s')}{mark(ep)} "
            f"| {recipe} | {notes} |"
        )
    commands = list(dict.fromkeys(r["command"] for r in rows))
    if len(commands) > 1:
        lines += ["", "Rows by command (`--append` keeps earlier rows):", ""]
        lines += [f"- `{c}`" for c in commands]
    return "\n".join(lines) + "\n"


def write(out: str, info: dict, rows: list, max_s: float) -> None:
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, f"compile_table_{info['platform']}")
    with open(stem + ".json", "w") as f:
        json.dump(dict(machine=info, max_s=max_s, rows=rows), f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(info, rows, max_s))


def main(argv):
    if FLAGS.worker:
        return worker_loop()
    import envs
    from launch.common import machine_info

    tasks = list(envs.PAPER_TASKS) if FLAGS.tasks == ["paper"] else FLAGS.tasks
    unknown = [t for t in tasks if t not in envs.names()]
    if unknown:
        print(f"error: unknown task(s) {', '.join(unknown)}", file=sys.stderr)
        raise SystemExit(2)
    if set(FLAGS.programs) - set(PROGRAMS):
        print(f"error: --programs takes {', '.join(PROGRAMS)}", file=sys.stderr)
        raise SystemExit(2)
    info = machine_info()
    sizes = [int(n) for n in FLAGS.num_envs]
    path = os.path.join(FLAGS.out, f"compile_table_{info['platform']}.json")
    rows = []
    if FLAGS.append and os.path.exists(path):
        with open(path) as f:
            rows = json.load(f)["rows"]
    for task in tasks:
        for n in sizes:
            for program in FLAGS.programs:
                job = dict(task=task, num_envs=n, program=program)
                row = dict(job, **run_job(job, FLAGS.max_s))
                row.update(
                    measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    command=info["command"],
                )
                rows = [r for r in rows if (r["task"], r["num_envs"], r["program"]) != (
                    task, n, program)] + [row]  # fmt: skip
                print(json.dumps(row), flush=True)
                write(FLAGS.out, info, rows, FLAGS.max_s)


if __name__ == "__main__":
    flags.DEFINE_list("tasks", ["paper"], "tasks, or 'paper' (envs.PAPER_TASKS)")
    flags.DEFINE_list("num_envs", ["1024"], "env counts")
    flags.DEFINE_list(
        "programs", list(PROGRAMS), f"programs to compile (of: {', '.join(PROGRAMS)})"
    )
    flags.DEFINE_float("max_s", 900.0, "limit of one program's setup + lower + compile")
    flags.DEFINE_string("out", "results", "output folder")
    flags.DEFINE_bool("append", False, "keep the output JSON's rows this run does not measure")
    flags.DEFINE_bool("worker", False, "internal: run as the compile worker (jobs on stdin)")
    app.run(main)
