"""Several devices: 1 and 2 (forced CPU) devices give the same training run on a fixed seed."""

import json
import os
import subprocess
import sys

import flax.serialization
import jax
import numpy as np
import pytest

from flowrl_mjx.algorithm import sharding
from flowrl_mjx.runtime import policy_io
from tests.tiny import metrics, train_run

EPOCHS = 3


def _actor(path):
    with open(os.path.join(path, policy_io.POLICY_FILE), "rb") as f:
        return jax.tree.leaves(flax.serialization.msgpack_restore(f.read()))


# ~65 s (a 2-device subprocess beside the 1-device run); -m slow.
@pytest.mark.slow
def test_two_devices_train_like_one(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    two = str(tmp_path / "two")
    cmd = [sys.executable, "-m", "tests.sharded_check", two, str(EPOCHS)]
    proc = subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    one = train_run(tmp_path / "one", EPOCHS, seed=5)  # meanwhile, the 1-device reference here
    stdout, stderr = proc.communicate(timeout=540)
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    assert out["replay_shard_rows"] == [128, 128] and out["env_shard_rows"] == [1, 1]
    assert "num_envs=3 must be a multiple of the 2 devices" in out["divisible_error"]
    assert out["all_reduce"]  # the gradients (batch means over both devices) are all-reduced
    assert out["replay_collectives"] == [], out["replay_collectives"]  # the buffer never moves
    rows_one, rows_two = metrics(one), metrics(two)
    assert len(rows_one) == len(rows_two) == EPOCHS
    for a, b in zip(rows_one, rows_two, strict=True):
        for k, v in a.items():
            if k not in ("wall_time", "perf/sps") and np.isfinite(v):
                assert abs(b[k] - v) / (1.0 + abs(v)) < 1e-4, (k, v, b[k])
    for a, b in zip(_actor(one), _actor(two), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-4)


def test_mesh_rejects_impossible_layouts():
    with pytest.raises(ValueError, match="only 1"):
        sharding.make_mesh(4)
    sharding.check_divisible(sharding.make_mesh(1), 3, 7)  # one device divides everything
