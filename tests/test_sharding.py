"""Several devices: 1 and 2 (forced CPU) devices give the same training run on a fixed seed."""

import json
import os
import subprocess
import sys

import pytest

from flowrl_mjx import sharding


def test_two_devices_train_like_one():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "tests.sharded_check"], cwd=root,
                          capture_output=True, text=True, timeout=540)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2 and out["rows"] == 3
    assert out["replay_shard_rows"] == [128, 128] and out["env_shard_rows"] == [1, 1]
    assert "num_envs=3 must be a multiple of the 2 devices" in out["divisible_error"]
    assert out["all_reduce"]  # the gradients (batch means over both devices) are all-reduced
    assert out["metric_rel_diff"] < 1e-4, out
    assert out["param_diff"] < 1e-4, out


def test_mesh_rejects_impossible_layouts():
    with pytest.raises(ValueError, match="only 1"):
        sharding.make_mesh(4)
    sharding.check_divisible(sharding.make_mesh(1), 3, 7)  # one device divides everything
