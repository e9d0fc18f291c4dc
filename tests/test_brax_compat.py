"""brax.training's SAC trains on envs.load("cheetah_run") unchanged (tiny budget)."""

import functools

import numpy as np
import pytest
from brax.training.agents.sac import train as sac

import envs


@pytest.mark.slow  # minutes on 2 cores: brax compiles its SAC training step around MJX
def test_brax_sac_runs_on_our_env():
    env = envs.load("cheetah_run")
    progress = []
    make_policy, params, metrics = sac.train(
        environment=env, num_timesteps=256, episode_length=16, num_envs=4, batch_size=8,
        num_evals=2, min_replay_size=32, max_replay_size=512, grad_updates_per_step=1,
        network_factory=functools.partial(
            __import__("brax.training.agents.sac.networks", fromlist=["x"]).make_sac_networks,
            hidden_layer_sizes=(8,)),
        progress_fn=lambda step, m: progress.append((step, m)), seed=0,
    )  # fmt: skip
    assert progress, "brax SAC reported no evaluation"
    assert np.isfinite(float(progress[-1][1]["eval/episode_reward"]))
    assert progress[-1][0] > 0
