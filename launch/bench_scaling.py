"""Scaling of the training program: seeds, devices, replay capacity, and the dm_control backend.

    python -m launch.bench_scaling --task cheetah_run --num_envs 128 [--preset cpu]
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m launch.bench_scaling \
        --sections devices --num_devices 1,2 --tag _devices   # several CPU "devices", one machine

Sections (--sections, default all but devices):
- seeds: one fused epoch of S seeds vmapped in one program (flowrl_mjx.algorithm.seeds) per S in
  --num_seeds; cost ratio = t(S seeds) / (S * t(1 seed)), below 1 when one program of S seeds is
  cheaper than S separate runs (run one after another on the same device).
- insert: one replay insert of num_envs transitions (jitted, donated, 100 per call) at each of
  --capacities; the ring buffer's insert must not depend on capacity.
- devices: fused env steps/s with the envs and replay split over D devices
(flowrl_mjx.algorithm.sharding).
- host: env steps/s of the same agent and config on real dm_control envs stepped on the host
  (`--backend dm_control`, flowrl_mjx.dmc_backend.host_runner) vs the fused MJX program: the
speed-up of MJX. Writes results/scaling_<platform><tag>.json and .md (machine, date and command
recorded).
"""

import functools
import json
import os
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

import envs
from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import presets, replay, seeds, train
from flowrl_mjx.runtime import mjx_backend
from flowrl_mjx.runtime.run_config import RunConfig
from launch.common import header, machine_info

flags.DEFINE_string("task", "cheetah_run", "task")
flags.DEFINE_integer("num_envs", 128, "training envs")
flags.DEFINE_string("preset", "cpu", "preset the other settings come from")
flags.DEFINE_list("sections", ["seeds", "insert", "host"], "seeds, insert, devices, host")
flags.DEFINE_list("num_seeds", ["1", "4"], "seed counts (seeds section)")
flags.DEFINE_list("capacities", ["100000", "10000000"], "replay capacities (insert section)")
flags.DEFINE_list("num_devices", ["1"], "device counts (devices section)")
flags.DEFINE_integer("iters", 10, "iterations per timed epoch")
flags.DEFINE_integer("repeats", 3, "timed calls after the compile (median)")
flags.DEFINE_string("out", "results", "output folder")
flags.DEFINE_string("tag", "", "appended to the output file names (scaling_<platform><tag>)")
FLAGS = flags.FLAGS


def _median_call(fn, carry) -> tuple:
    """(compile + first call s, median s of FLAGS.repeats calls) of fn(carry) -> (carry, ...)."""
    t0 = time.perf_counter()
    carry = jax.block_until_ready(fn(carry))[0]
    first, times = time.perf_counter() - t0, []
    for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry))[0]
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def _apply(fn, carry, batch):
    return fn(carry, batch)


def _configs(**extra):
    return presets.build(
        FLAGS.preset, num_envs=FLAGS.num_envs, iters_per_epoch=FLAGS.iters, warmup_steps=0, **extra
    )


def _fused(env, s: int) -> dict:
    """One fused epoch of s seeds (s = 1: the single-seed program launch runs)."""
    cfg, loop = _configs()
    venv, keys = VecEnv(env, loop.num_envs), [jax.random.PRNGKey(i) for i in range(s)]
    if s == 1:
        epoch, state = train.make_epoch(cfg, loop, venv), train.init(keys[0], cfg, loop, venv)
    else:
        epoch, state = seeds.make_epoch(cfg, loop, venv), seeds.init(keys, cfg, loop, venv)
    first, t = _median_call(epoch, state)
    return dict(
        num_seeds=s,
        s_per_epoch=t,
        compile_s=first - t,
        env_sps_all_seeds=s * loop.num_envs * FLAGS.iters / t,
    )


def bench_seeds(env) -> list:
    rows = [_fused(env, s) for s in map(int, FLAGS.num_seeds)]
    base = rows[0]["s_per_epoch"] / rows[0]["num_seeds"]
    for r in rows:
        r["cost_ratio_vs_separate"] = r["s_per_epoch"] / (r["num_seeds"] * base)
    return rows


def bench_insert(env) -> list:
    rows = []
    for cap in map(int, FLAGS.capacities):
        state = replay.init(cap, env.observation_size, env.action_size)
        # a runtime argument (not a closed-over constant XLA could fold into the writes)
        batch = jax.tree.map(lambda x: x + 1.0, replay.init(FLAGS.num_envs, env.observation_size,
                                                            env.action_size).data)  # fmt: skip

        def many(s, batch):
            return jax.lax.fori_loop(0, 100, lambda _, s: replay.insert(s, batch), s), None

        inserts = jax.jit(many, donate_argnums=0)
        first, t = _median_call(functools.partial(_apply, inserts, batch=batch), state)
        rows.append(
            dict(
                capacity=cap,
                us_per_insert=1e6 * t / 100,
                rows_per_insert=FLAGS.num_envs,
                bytes=sum(x.nbytes for x in jax.tree.leaves(state)),
            )
        )
        del state
    return rows


def bench_devices(env) -> list:
    cfg, loop = _configs()
    venv, rows = VecEnv(env, loop.num_envs), []
    for d in map(int, FLAGS.num_devices):
        state = train.init(jax.random.PRNGKey(0), cfg, loop, venv)
        if d == 1:
            epoch = train.make_epoch(cfg, loop, venv)
        else:
            lay = mjx_backend.layout(cfg, loop, env, d)
            epoch, state = lay.make_epoch(cfg, loop, venv), lay.put(state)
        first, t = _median_call(epoch, state)
        rows.append(
            dict(
                num_devices=d,
                fused_env_sps=loop.num_envs * FLAGS.iters / t,
                s_per_epoch=t,
                compile_s=first - t,
            )
        )
    return rows


def bench_host(env) -> dict:
    """The same config through --backend dm_control's backend (DmcBackend.call, one iteration
    per call, as the runner calls it)."""
    from flowrl_mjx.dmc_backend import host_runner

    cfg, loop = _configs(num_eval_envs=1)
    run = RunConfig(task=FLAGS.task, config=cfg, loop=loop, preset=FLAGS.preset,
                    backend="dm_control", total_env_steps=10**9, obs_size=env.observation_size,
                    action_size=env.action_size)  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        backend = host_runner.DmcBackend(run, env, out, False)
        try:
            backend.start(False)
            times = []
            for _ in range(FLAGS.repeats + 1):  # the first includes the compile
                t0 = time.perf_counter()
                calls = [backend.call() for _ in range(backend.calls_per_epoch)]
                times.append(time.perf_counter() - t0)
            workers = backend.pool.num_workers
        finally:
            backend.close()
    m = train.reduce_iterations({k: np.stack([c[k] for c in calls]) for k in calls[0]})
    t = float(np.median(times[1:]))
    return dict(
        host_env_sps=loop.num_envs * FLAGS.iters / t,
        s_per_epoch=t,
        host_env_fraction=float(m["perf/host_env_fraction"]),
        workers=workers,
    )


def main(_):
    info, env = machine_info(), envs.load(FLAGS.task)
    out = dict(
        machine=info,
        task=FLAGS.task,
        preset=FLAGS.preset,
        num_envs=FLAGS.num_envs,
        iters=FLAGS.iters,
    )
    benches = dict(seeds=bench_seeds, insert=bench_insert, devices=bench_devices, host=bench_host)
    for name in FLAGS.sections:
        if name not in benches:
            raise app.UsageError(f"unknown section {name!r}; valid: {', '.join(benches)}")
        out[name] = benches[name](env)
        print(json.dumps({name: out[name]}), flush=True)
    if "host" in out:
        single = [r for r in out.get("seeds", []) if r["num_seeds"] == 1]
        mjx = single[0] if single else _fused(env, 1)
        out["host"]["mjx_env_sps"] = mjx["env_sps_all_seeds"]
        out["host"]["mjx_speedup"] = mjx["env_sps_all_seeds"] / out["host"]["host_env_sps"]
    os.makedirs(FLAGS.out, exist_ok=True)
    stem = os.path.join(FLAGS.out, f"scaling_{info['platform']}{FLAGS.tag}")
    with open(stem + ".json", "w") as f:
        json.dump(out, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(_markdown(info, out))


# section -> (title, column names, one row's cells); every column is right-aligned
_TABLES = {
    "seeds": (
        "Seeds in one program",
        ["seeds", "s per epoch", "env steps/s (all seeds)", "cost vs separate runs", "compile s"],
        lambda r: [r["num_seeds"], f"{r['s_per_epoch']:.2f}", f"{r['env_sps_all_seeds']:,.0f}",
                   f"{r['cost_ratio_vs_separate']:.2f}", f"{r['compile_s']:.0f}"],
    ),
    "insert": (
        "Replay insert vs capacity",
        ["capacity", "buffer GiB", "rows per insert", "us per insert"],
        lambda r: [f"{r['capacity']:,}", f"{r['bytes'] / 2**30:.2f}", r["rows_per_insert"],
                   f"{r['us_per_insert']:.1f}"],
    ),
    "devices": (
        "Devices",
        ["devices", "fused env steps/s", "s per epoch", "compile s"],
        lambda r: [r["num_devices"], f"{r['fused_env_sps']:,.0f}", f"{r['s_per_epoch']:.2f}",
                   f"{r['compile_s']:.0f}"],
    ),
}  # fmt: skip


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _markdown(info, out) -> str:
    lines = [
        f"# Scaling: {out['task']}, preset {out['preset']}, {out['num_envs']} envs\n",
        header(info),
        f"\n{out['iters']} iterations per timed epoch, median of "
        f"{FLAGS.repeats} calls; launch/bench_scaling.py says what each section times.\n",
    ]
    for section, (title, columns, cells) in _TABLES.items():
        if section in out:
            lines += [f"\n## {title}\n", _row(columns), "|" + "---:|" * len(columns)]
            lines += [_row(cells(r)) for r in out[section]]
    if "host" in out:
        h = out["host"]
        lines += [
            "\n## MJX vs the dm_control host backend (same agent and config)\n",
            "| backend | env steps/s | host env-step share of wall |",
            "|---|---:|---:|",
            f"| mjx (fused) | {h['mjx_env_sps']:,.0f} | - |",
            f"| dm_control ({h['workers']} workers) | {h['host_env_sps']:,.0f} | "
            f"{h['host_env_fraction']:.0%} |",
            f"\nSpeed-up of the fused MJX program: **{h['mjx_speedup']:.2f}x**.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app.run(main)
