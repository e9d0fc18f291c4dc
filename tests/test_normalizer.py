"""Observation normalisation (Config.obs_norm): exact moment merging, the clip, the policy file
with statistics (and without: older files), checkpoints from before the statistics, the flag."""

import dataclasses
import json
import os
import subprocess
import sys

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowrl_mjx
from flowrl_mjx.algorithm import agent, normalizer, policy
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.algorithm.train import LoopConfig
from flowrl_mjx.dmc_backend import host_train
from flowrl_mjx.runtime import checkpoint, policy_io
from flowrl_mjx.runtime.run_config import RunConfig

OBS, ACT = 3, 2
CFG = Config(actor_hidden=(8,), critic_hidden=(8,), value_hidden=(8,), batch_size=4,
             replay_size=16, recent_window=8, obs_norm=True)  # fmt: skip


def _batches(rng, sizes=(5, 1, 9, 4)):
    """(obs, valid) batches on several scales; invalid rows hold NaN, as a diverged step may."""
    out = []
    for n in sizes:
        obs = rng.normal([3.0, -50.0, 0.0], [0.5, 20.0, 1e-3], (n, OBS)).astype(np.float32)
        valid = (rng.uniform(size=n) < 0.7).astype(np.float32)
        obs[valid == 0] = np.nan
        out.append((obs, valid))
    return out


def test_merging_batches_gives_the_moments_of_all_valid_rows():
    rng = np.random.default_rng(0)
    state, seen = normalizer.init(OBS), []
    for obs, valid in _batches(rng):
        state = jax.jit(normalizer.update)(state, obs, valid)
        seen.append(obs[valid > 0])
        rows = np.concatenate(seen).astype(np.float64)
        assert float(state.count) == len(rows)
        np.testing.assert_allclose(state.mean, rows.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.var, rows.var(0), rtol=1e-4, atol=1e-9)
    assert state.mean.dtype == state.var.dtype == state.count.dtype == jnp.float32
    # No valid row: the state comes back bitwise (a batch of diverged envs changes nothing).
    none = normalizer.update(state, np.full((2, OBS), np.nan, np.float32), np.zeros(2))
    for a, b in zip(jax.tree.leaves(none), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_normalize_standardises_and_clips():
    obs = jnp.array([[0.3, -7.0, 100.0]])
    fresh = normalizer.init(OBS)
    np.testing.assert_array_equal(normalizer.normalize(fresh, obs), np.float32([[0.3, -5, 5]]))
    state = normalizer.NormState(mean=jnp.array([1.0, 2.0, 3.0]), var=jnp.array([4.0, 0.0, 1.0]),
                                 count=jnp.float32(10))  # fmt: skip
    x = jnp.array([[2.0, 2.0, 3.5], [11.0, 2.1, -30.0]])
    want = [[0.5, 0.0, 0.5], [5.0, 5.0, -5.0]]  # a constant input maps to 0, not 0 / 0
    np.testing.assert_allclose(normalizer.normalize(state, x), want, rtol=1e-6)
    np.testing.assert_allclose(normalizer.normalize(state, x, clip=3.0)[1], [3.0, 3.0, -3.0])
    assert normalizer.inputs(False, None, x) is x
    with pytest.raises(ValueError, match="statistics"):
        normalizer.inputs(True, None, x)


def _run_dir(path, cfg, stats):
    """A run dir with a random tiny actor (and the given statistics) for load_policy."""
    path.mkdir()
    nets = make_networks(cfg, OBS, ACT)
    params = nets.actor.init(jax.random.PRNGKey(1), jnp.zeros((1, OBS)), jnp.zeros((1, ACT)), 0.0)
    policy_io.save_actor(str(path), params, stats)
    run = RunConfig(task="t", config=cfg, loop=LoopConfig(), obs_size=OBS, action_size=ACT)
    (path / "config.json").write_text(json.dumps(run.to_json()))
    return str(path), nets, params


def test_load_policy_applies_the_saved_statistics(tmp_path):
    stats = normalizer.NormState(mean=jnp.array([1.0, -2.0, 0.5]),
                                 var=jnp.array([0.25, 9.0, 4.0]), count=jnp.float32(7))  # fmt: skip
    out, nets, params = _run_dir(tmp_path / "on", CFG, stats)
    obs = np.array([[1.5, 4.0, -3.0], [0.0, 0.0, 0.0]], np.float32)
    act = policy.make_policy(CFG, nets, policy.make_flow_action(CFG, nets))
    want = act(params, normalizer.normalize(stats, obs), None, deterministic=True)
    np.testing.assert_allclose(flowrl_mjx.load_policy(out)(obs), want, rtol=1e-6, atol=1e-6)
    unnormalised = act(params, obs, None, deterministic=True)
    assert not np.allclose(want, unnormalised, atol=1e-3)  # the statistics do matter here
    os.remove(os.path.join(out, policy_io.POLICY_FILE))
    policy_io.save_actor(out, params)  # obs_norm run, file without statistics: refused
    with pytest.raises(ValueError, match="no observation statistics"):
        flowrl_mjx.load_policy(out)


def test_policy_file_of_the_older_layout_still_loads(tmp_path):
    """Files written before the statistics hold the actor's parameters alone."""
    cfg = dataclasses.replace(CFG, obs_norm=False)
    out, nets, params = _run_dir(tmp_path / "old", cfg, None)
    with open(os.path.join(out, policy_io.POLICY_FILE), "wb") as f:
        f.write(flax.serialization.to_bytes(params))
    obs = np.array([2.0, -1.0, 0.5], np.float32)
    act = policy.make_policy(cfg, nets, policy.make_flow_action(cfg, nets))
    want = act(params, obs, None, deterministic=True)
    np.testing.assert_allclose(flowrl_mjx.load_policy(out)(obs), want, rtol=1e-6, atol=1e-6)


def test_checkpoint_from_before_the_statistics_restores(tmp_path):
    """Checkpoints store leaves by index; one written before AgentState.obs_norm existed (its
    state had no such field) still restores, with fresh statistics."""
    state = host_train.init(jax.random.PRNGKey(0), CFG, OBS, ACT)
    state = state.replace(env_steps=jnp.int32(12))
    old = state.replace(agent=state.agent.replace(obs_norm=None))  # the earlier layout
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(12, old, dict(epoch=1, wall_time=0.0))
    abstract = jax.eval_shape(lambda: state)
    assert ckpts.restore_latest(abstract) is None  # the current layout cannot read it
    restored, meta = ckpts.restore_latest(abstract, legacy=agent.legacy_layouts(abstract))
    ckpts.close()
    assert meta["epoch"] == 1
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_launch_flag_and_recipe_line():
    """--obs_norm / --noobs_norm (absl bool flags, in a fresh process: flags are global)."""
    code = (
        "import sys; from flowrl_mjx.algorithm import presets\n"
        "from flowrl_mjx.runtime import cli as launch\n"
        "for args in ([], ['--obs_norm'], ['--noobs_norm']):\n"
        "    launch.FLAGS.unparse_flags(); launch.FLAGS(['launch', '--num_envs', '8', *args])\n"
        "    cfg, loop, name = launch.resolve()\n"
        "    line = presets.recipe_line(name, cfg, loop)\n"
        "    print('RESULT', cfg.obs_norm, line.endswith(' obs_norm=on'))\n"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu", MUJOCO_GL="disable")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    results = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert results == [["False", "False"], ["True", "True"], ["False", "False"]], out.stdout
