"""Learner-only speed: FlowRL update steps/s per batch size, default (paper) networks.

    python -m launch.bench_update [--batch_sizes 256,4096,16384] [--updates_per_call 10,2,1]

One timed call = one jitted, state-donating `update` doing K (--updates_per_call) updates under
lax.scan (the fused program's shape), on a full replay of random transitions. Reported: compile
time (lower + compile), ms per update and updates/s from the median of --calls warm calls, XLA's
FLOP count per update, and the 1-minute load average before and after (the CPU may be shared).
Writes results/bench_update_<platform>.json and results/bench_update.md.
"""

import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from flowrl_mjx.algorithm import agent, learner, replay
from flowrl_mjx.algorithm.config import Config
from launch.common import header, machine_info

flags.DEFINE_list("batch_sizes", ["256", "4096", "16384"], "batch sizes to time")
flags.DEFINE_list("updates_per_call", ["10", "2", "1"], "K per batch size (or one for all)")
flags.DEFINE_list("hidden", ["512", "512"], "hidden widths of all networks (paper: 512,512)")
flags.DEFINE_integer("calls", 3, "warm calls timed after the compile (median reported)")
flags.DEFINE_list("modes", ["official"], "actor-loss modes to time")
flags.DEFINE_integer("obs_size", 17, "observation size (default: cheetah_run)")
flags.DEFINE_integer("action_size", 6, "action size (default: cheetah_run)")
flags.DEFINE_integer("replay_size", 100_000, "replay capacity (filled with random data)")
flags.DEFINE_string("out", "results", "output folder")
FLAGS = flags.FLAGS


def _full_replay(key, capacity: int, obs_size: int, action_size: int) -> replay.ReplayState:
    k = jax.random.split(key, 4)
    data = replay.Transition(
        obs=jax.random.normal(k[0], (capacity, obs_size)),
        action=jax.random.uniform(k[1], (capacity, action_size), minval=-1.0),
        reward=jax.random.uniform(k[2], (capacity,)),
        discount=jnp.ones(capacity),
        next_obs=jax.random.normal(k[3], (capacity, obs_size)),
        valid=jnp.ones(capacity),
    )
    return replay.ReplayState(data=data, insert_pos=jnp.int32(0), size=jnp.int32(capacity))


def bench(mode: str, batch: int, k: int) -> dict:
    obs_size, act_size = FLAGS.obs_size, FLAGS.action_size
    hidden = tuple(int(h) for h in FLAGS.hidden)
    cfg = Config(
        batch_size=batch,
        updates_per_iter=k,
        mode=mode,
        replay_size=max(FLAGS.replay_size, batch),
        actor_hidden=hidden,
        critic_hidden=hidden,
        value_hidden=hidden,
    ).validate()
    update = jax.jit(learner.build(cfg, obs_size, act_size).update, donate_argnums=0)
    state = agent.init(jax.random.key(0), cfg, obs_size, act_size)
    buf = _full_replay(jax.random.key(1), cfg.replay_size, obs_size, act_size)
    t0 = time.perf_counter()
    compiled = update.lower(state, buf, jax.random.key(2)).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    state, metrics = jax.block_until_ready(compiled(state, buf, jax.random.key(3)))  # warm-up
    times, cpu_times = [], []
    for i in range(FLAGS.calls):
        t0, c0 = time.perf_counter(), time.process_time()
        state, metrics = jax.block_until_ready(compiled(state, buf, jax.random.key(4 + i)))
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    ms = 1e3 * statistics.median(times) / k
    cpu_ms = 1e3 * statistics.median(cpu_times) / k
    flops = (cost or {}).get("flops", float("nan"))  # XLA counts the scan body once
    return {
        "mode": mode,
        "hidden": "x".join(FLAGS.hidden),
        "batch": batch,
        "updates_per_call": k,
        "compile_s": compile_s,
        "ms_per_update": ms,
        "cpu_ms_per_update": cpu_ms,
        "updates_per_s": 1e3 / ms,
        "samples_per_s": batch * 1e3 / ms,
        "mflop_per_sample": flops / batch / 1e6,
        "gflop_per_s": flops / ms / 1e6,
        "call_s": times,
        "call_cpu_s": cpu_times,
        "finite": bool(all(jnp.isfinite(v) for v in metrics.values())),
    }


def _markdown(info: dict, rows: list, load: tuple) -> str:
    setup = (
        f"obs {FLAGS.obs_size}, action {FLAGS.action_size} (cheetah_run sizes by default), "
        f"networks of hidden widths {'x'.join(FLAGS.hidden)} (velocity field; twin Q, twin "
        "Q_buffer, V as LayerNorm+GELU blocks; paper: 512x512); K updates per jitted call "
        "(lax.scan). MFLOP / sample is XLA's "
        "count for one update including the actor step (which runs every 2nd update), so "
        "GFLOP/s slightly overstates the achieved rate. CPU ms = process CPU time (all threads) "
        "per update: on an idle machine wall ~ CPU / cores; a much larger wall time means the "
        "cores were busy with other work. "
        f"1-min load average {load[0]:.1f} before, {load[1]:.1f} after "
        f"({info['cpu_cores']} cores; above the core count means the CPU was shared).\n"
    )
    columns = (
        "| mode | batch | K | compile s | ms / update | CPU ms / update | updates / s "
        "| samples / s | MFLOP / sample (XLA) | GFLOP/s |"
    )
    lines = [
        "# FlowRL update speed (learner only)\n",
        header(info),
        setup,
        columns,
        "|---|" + "---:|" * 9,
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['batch']} | {r['updates_per_call']} | {r['compile_s']:.1f} | "
            f"{r['ms_per_update']:.1f} | {r['cpu_ms_per_update']:.1f} | {r['updates_per_s']:.2f} | "
            f"{r['samples_per_s']:,.0f} | {r['mflop_per_sample']:.1f} | "
            f"{r['gflop_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(_):
    info = machine_info()
    load_before = os.getloadavg()[0]
    rows = []
    batches = [int(b) for b in FLAGS.batch_sizes]
    ks = [int(k) for k in FLAGS.updates_per_call]
    ks = ks * len(batches) if len(ks) == 1 else ks
    if len(ks) != len(batches):
        raise app.UsageError("--updates_per_call: give one value or one per batch size")
    for mode in FLAGS.modes:
        for batch, k in zip(batches, ks, strict=True):
            rows.append(bench(mode, batch, k))
            print(json.dumps(rows[-1]), flush=True)
    load = (load_before, os.getloadavg()[0])
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, f"bench_update_{info['platform']}.json"), "w") as f:
        json.dump({"machine": info, "load_avg_1min": load, "rows": rows}, f, indent=1)
    with open(os.path.join(FLAGS.out, "bench_update.md"), "w") as f:
        f.write(_markdown(info, rows, load))


if __name__ == "__main__":
    app.run(main)
