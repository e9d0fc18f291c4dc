"""Run by tests/test_sharding.py in a fresh process with 2 forced CPU devices (XLA_FLAGS must be
set before jax starts): the same tiny training run on 1 and on 2 devices; prints JSON."""

import json
import os
import sys
import tempfile

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import flax.serialization  # noqa: E402
from flowrl_mjx import policy_io, run_dir, runner, train  # noqa: E402
from tests.tiny import CFG, LOOP, PER_EPOCH, TASK, env  # noqa: E402

EPOCHS = 3


def train_on(devices: int, out: str) -> list:
    settings = dict(task=TASK, seed=5, preset="test", total_env_steps=EPOCHS * PER_EPOCH,
                    num_devices=devices, config=CFG.__dict__, loop=LOOP.__dict__)  # fmt: skip
    runner.run(settings, CFG, LOOP, env(), run_dir.prepare(out, TASK, 5, False), False, 1, 1)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _actor(path):
    with open(os.path.join(path, policy_io.POLICY_FILE), "rb") as f:
        return flax.serialization.msgpack_restore(f.read())


def main():
    tmp = tempfile.mkdtemp()
    one, two = train_on(1, f"{tmp}/one"), train_on(2, f"{tmp}/two")
    diff = max(abs(a[k] - b[k]) / (1.0 + abs(a[k])) for a, b in zip(one, two, strict=True)
               for k in a if k not in ("wall_time", "perf/sps") and np.isfinite(a[k]))  # fmt: skip
    params = [jax.tree.leaves(_actor(f"{tmp}/{n}")) for n in ("one", "two")]
    param_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(*params, strict=True))
    lay = runner.layout(CFG, LOOP, env(), 2)
    ts = lay.put(train.init(jax.random.PRNGKey(0), CFG, LOOP, runner.programs(CFG, LOOP, env())[0]))
    hlo = runner.programs(CFG, LOOP, env(), 1, 2)[1].lower(ts).compile().as_text()
    try:
        runner.sharding.check_divisible(lay.mesh, 3, 256)
        error = ""
    except ValueError as e:
        error = str(e)
    print(json.dumps(dict(
        divisible_error=error,
        devices=len(jax.devices()), rows=len(two), metric_rel_diff=diff, param_diff=param_diff,
        replay_shard_rows=[s.data.shape[0] for s in ts.replay.data.obs.addressable_shards],
        env_shard_rows=[s.data.shape[0] for s in ts.env.obs.addressable_shards],
        all_reduce="all-reduce" in hlo, all_gather="all-gather" in hlo,
    )))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
