"""launch/parity_sweep.py: its row for one state (cheetah_run, where MJX and MuJoCo agree)."""

import numpy as np

import envs
from envs import parity
from launch import parity_sweep


def test_sweep_row_on_cheetah_reset_state():
    env = envs.load("cheetah_run")
    recs = parity.rollout(env, 0, 1)
    dm_env = parity_sweep.dm_episode(env, 0, recs[0])
    keys = parity_sweep.obs_keys(env, recs[0])
    row = parity_sweep.measure(env, dm_env.physics.model.ptr, recs, seed=0, start=0, keys=keys)
    assert row["error"] <= row["tolerance"] == env.step_tolerance
    # Both feet touch the floor after dm_control's reset; the two simulators find the same pairs.
    assert row["contacts_mujoco"] == row["contacts_mjx"] == 2
    assert row["only_mujoco"] == row["only_mjx"] == {}


def test_worst_key_finds_the_obs_block_of_the_largest_error():
    env = envs.load("cheetah_run")
    rec = parity.rollout(env, 0, 0)[0]
    keys = parity_sweep.obs_keys(env, rec)
    assert keys == [("position", 8), ("velocity", 17)]  # cheetah's obs: position, velocity
    for index, key in [(0, "position"), (7, "position"), (8, "velocity"), (16, "velocity")]:
        err = np.zeros(np.size(rec.obs))
        err[index] = 1.0
        assert parity_sweep.worst_key(keys, err) == key


def test_mujoco_steps_on_the_episode_model():
    """point_mass_hard's random directions live in dm_control's model from reset on (escape's
    terrain likewise): contacts counted on an unreset model saw a flat floor there."""
    env = envs.load("point_mass_hard")
    recs = parity.rollout(env, 0, 0)
    model = parity_sweep.dm_episode(env, 0, recs[0]).physics.model
    np.testing.assert_allclose(model.wrap_prm[:4], np.ravel(recs[0].info["directions"]), atol=1e-6)
    assert not np.allclose(parity.dm_load(env, 0).physics.model.wrap_prm[:4], model.wrap_prm[:4])
