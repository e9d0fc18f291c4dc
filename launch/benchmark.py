"""Speed of the parts and of the whole: env-only, update-only and the fused training program.

    python -m launch.benchmark --task cheetah_run --num_envs 16,128,1024 [--preset cpu]

For each env count, from the preset with num_envs overridden and warm-up off (every iteration
learns), three jitted programs over the same state, each timed after its compile:
- env only: `iters` VecEnv steps (random actions, auto-reset on) in one lax.scan;
- update only: one call of K = updates_per_iter updates on the filled replay;
- fused: one training epoch of `iters` iterations (policy actions, env step, replay insert, K
  updates), as `python -m flowrl_mjx.launch` runs it.
The fusion overhead ratio is t(fused iteration) / (t(env step) + t(K updates)): what fusing costs
(or saves) over the parts run alone; the policy's action sampling and the replay insert count as
overhead. Peak memory: the device's peak bytes in use where the device reports it (GPU), else
the process's peak resident memory (CPU; includes the Python process).
Writes results/benchmark_<platform>.json and results/benchmark_<platform>.md.
"""

import json
import os
import resource
import time

import jax
from absl import app, flags

import envs
from envs.jax_setup import jit_task
from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import learner, presets, train
from launch.common import header, machine_info

flags.DEFINE_string("task", "cheetah_run", "task")
flags.DEFINE_list("num_envs", ["16", "128"], "env counts")
flags.DEFINE_string("preset", "cpu", "preset the other settings come from")
flags.DEFINE_integer("iters", 20, "iterations per timed epoch / env scan")
flags.DEFINE_integer("repeats", 3, "timed calls after the compile (median)")
flags.DEFINE_string("out", "results", "output folder")
FLAGS = flags.FLAGS


def _timed(fn, carry, *args):
    """(compile s, median s per call, carry) of a jitted fn(carry, *args) -> (carry, ...), each
    call fed the previous call's carry (so a donating fn runs as it does in training)."""
    t0 = time.perf_counter()
    carry = jax.block_until_ready(fn(carry, *args))[0]
    compile_s, times = time.perf_counter() - t0, []
    for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry, *args))[0]
        times.append(time.perf_counter() - t0)
    return compile_s, sorted(times)[len(times) // 2], carry


def _configs(n: int):
    """The preset with num_envs = n, FLAGS.iters iterations per epoch and warm-up off."""
    return presets.build(FLAGS.preset, num_envs=n, iters_per_epoch=FLAGS.iters, warmup_steps=0)


def _peak_memory_bytes() -> tuple:
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"], "device peak"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS"


def bench(env, n: int) -> dict:
    cfg, loop = _configs(n)
    venv = VecEnv(env, n)
    state = train.init(jax.random.PRNGKey(0), cfg, loop, venv)
    c_fused, t_fused, state = _timed(train.make_epoch(cfg, loop, venv), state)

    def env_only(env_state, key):
        def body(s, k):
            a = jax.random.uniform(k, (n, env.action_size), minval=-1.0, maxval=1.0)
            return venv.step(s, a), None

        return jax.lax.scan(body, env_state, jax.random.split(key, FLAGS.iters))

    # All three programs compiled with the epoch's options (jit_task), so the ratio compares alike.
    c_env, t_env, _ = _timed(jit_task(env_only, env), state.env, jax.random.PRNGKey(1))
    fns = learner.build(cfg, env.observation_size, env.action_size, loop.num_envs)
    learn = jit_task(fns.update, env)
    c_upd, t_upd, _ = _timed(learn, state.agent, state.replay, jax.random.PRNGKey(2))
    it_fused, it_env = t_fused / FLAGS.iters, t_env / FLAGS.iters
    memory, memory_kind = _peak_memory_bytes()
    return dict(
        num_envs=n, updates_per_iter=cfg.updates_per_iter, batch_size=cfg.batch_size,
        env_sps=n / it_env, updates_per_s_alone=cfg.updates_per_iter / t_upd,
        fused_env_sps=n / it_fused, fused_updates_per_s=cfg.updates_per_iter / it_fused,
        ms_env_step=1e3 * it_env, ms_k_updates=1e3 * t_upd, ms_fused_iteration=1e3 * it_fused,
        fusion_overhead_ratio=it_fused / (it_env + t_upd),
        compile_s=dict(fused=c_fused, env=c_env, update=c_upd),
        peak_memory_bytes=memory, peak_memory_kind=memory_kind,
    )  # fmt: skip


def _markdown(info: dict, rows: list) -> str:
    lines = [
        f"# Benchmark: {FLAGS.task}, preset {FLAGS.preset}\n",
        header(info),
        f"\n{FLAGS.iters} iterations per timed call, median of {FLAGS.repeats}; see "
        "launch/benchmark.py for what each column times.\n",
        "| envs | K | batch | env-only steps/s | updates/s alone | fused env steps/s | "
        "fused updates/s | ms env step | ms K updates | ms fused iter | fusion ratio | "
        "compile s (fused/env/update) | peak memory |",
        "|---:|---:|---:|" + "---:|" * 9 + "---|",
    ]
    for r in rows:
        c = r["compile_s"]
        lines.append(
            f"| {r['num_envs']} | {r['updates_per_iter']} | {r['batch_size']} | "
            f"{r['env_sps']:,.0f} | {r['updates_per_s_alone']:.1f} | {r['fused_env_sps']:,.0f} | "
            f"{r['fused_updates_per_s']:.1f} | {r['ms_env_step']:.2f} | {r['ms_k_updates']:.1f} | "
            f"{r['ms_fused_iteration']:.1f} | {r['fusion_overhead_ratio']:.2f} | "
            f"{c['fused']:.0f}/{c['env']:.0f}/{c['update']:.0f} | "
            f"{r['peak_memory_bytes'] / 2**30:.2f} GiB ({r['peak_memory_kind']}) |"
        )
    return "\n".join(lines) + "\n"


def main(_):
    if FLAGS.preset not in presets.PRESETS:
        raise app.UsageError(f"unknown preset {FLAGS.preset!r}")
    info = machine_info()
    env = envs.load(FLAGS.task)
    rows = []
    for n in map(int, FLAGS.num_envs):
        rows.append(bench(env, n))
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(FLAGS.out, exist_ok=True)
    stem = os.path.join(FLAGS.out, f"benchmark_{info['platform']}")
    with open(stem + ".json", "w") as f:
        json.dump(dict(machine=info, task=FLAGS.task, preset=FLAGS.preset, rows=rows), f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(_markdown(info, rows))


if __name__ == "__main__":
    app.run(main)
