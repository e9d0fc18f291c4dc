"""launch/parity_sweep.py: its row for one state (cheetah_run, where MJX and MuJoCo agree)."""

import numpy as np

import envs
from envs import parity
from launch import parity_sweep


def test_sweep_row_on_cheetah_reset_state():
    env = envs.load("cheetah_run")
    recs = parity.rollout(env, 0, 1)
    dm_env = parity.dm_load(env, 0)
    row = parity_sweep.measure(env, dm_env.physics.model.ptr, recs, seed=0, start=0)
    assert row["error"] <= row["tolerance"] == env.step_tolerance
    # Both feet touch the floor after dm_control's reset; the two simulators find the same pairs.
    assert row["contacts_mujoco"] == row["contacts_mjx"] == 2
    assert row["only_mujoco"] == row["only_mjx"] == {}


def test_worst_key_finds_the_obs_block_of_the_largest_error():
    env = envs.load("cheetah_run")
    rec = parity.rollout(env, 0, 0)[0]
    n_pos = 8  # cheetah's obs: position (8), then velocity (9)
    for index, key in [(0, "position"), (n_pos - 1, "position"), (n_pos, "velocity")]:
        ours = rec.obs.copy()
        ours[index] += 1.0
        assert parity_sweep.worst_key(env, rec, ours) == key
    assert np.size(rec.obs) == 17
