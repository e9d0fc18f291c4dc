"""Run by tests/test_sharding.py in a fresh process with 2 forced CPU devices (XLA_FLAGS must be
set before jax starts): the tiny training run on 2 devices into argv[1] for argv[2] epochs (never
import this module from the test process: it sets XLA_FLAGS), then checks of the
compiled program; prints JSON. The 1-device reference run happens in the test's own process."""

import json
import os
import re
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

from flowrl_mjx.algorithm import train  # noqa: E402
from flowrl_mjx.runtime import mjx_backend, runner
from tests.tiny import CFG, LOOP, env, train_run  # noqa: E402


def _replay_collectives(hlo: str) -> list:
    """Collectives whose operand has the replay's capacity (or its per-device half) as a dim:
    the replay must stay where it is, only batches and gradients may move."""
    rows = rf"\[({CFG.replay_size}|{CFG.replay_size // 2})[,\]]"
    pattern = r"= (.*?) (all-gather|all-reduce|all-to-all|collective-permute)"
    return [m.group(0) for m in re.finditer(pattern, hlo) if re.search(rows, m.group(1))]


def main(out: str, epochs: int):
    train_run(out, epochs, seed=5, num_devices=2)
    lay = mjx_backend.layout(CFG, LOOP, env(), 2)
    ts = lay.put(
        train.init(jax.random.PRNGKey(0), CFG, LOOP, mjx_backend.programs(CFG, LOOP, env())[0])
    )
    hlo = mjx_backend.programs(CFG, LOOP, env(), 1, 2)[1].lower(ts).compile().as_text()
    try:
        runner.sharding.check_divisible(lay.mesh, 3, 256)
        error = ""
    except ValueError as e:
        error = str(e)
    print(json.dumps(dict(
        divisible_error=error, devices=len(jax.devices()),
        replay_shard_rows=[s.data.shape[0] for s in ts.replay.data.obs.addressable_shards],
        env_shard_rows=[s.data.shape[0] for s in ts.env.obs.addressable_shards],
        all_reduce="all-reduce" in hlo, replay_collectives=_replay_collectives(hlo),
    )))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
