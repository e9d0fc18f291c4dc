"""VecEnv: truncation bookkeeping, true final obs, fresh-state auto-reset, NaN guard."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.wrappers import VecEnv

EPISODE = 3


@functools.cache
def _setup():
    venv = VecEnv(envs.load("cartpole_balance"), num_envs=4, episode_length=EPISODE)
    return venv, jax.jit(venv.reset), jax.jit(venv.step)


def _run(n, state=None, poison=None):
    venv, reset, step = _setup()
    state = reset(jax.random.PRNGKey(0)) if state is None else state
    action = jnp.zeros((venv.num_envs, venv.action_size))
    out = []
    for _ in range(n):
        if poison is not None:
            ps = state.pipeline_state
            state = state.replace(pipeline_state=ps.replace(qvel=ps.qvel.at[poison].set(jnp.nan)))
            poison = None
        state = step(state, action)
        out.append(state)
    return out


def test_truncation_keeps_true_final_obs_and_resets_fresh():
    states = _run(2 * EPISODE)
    last = states[EPISODE - 1]
    np.testing.assert_array_equal(np.asarray(last.info["truncation"]), 1.0)
    np.testing.assert_array_equal(np.asarray(last.info["discount"]), 1.0)  # truncation, not end
    np.testing.assert_array_equal(np.asarray(last.info["steps"]), 0)
    # obs is a new episode's first obs, next_obs the true final obs of the finished one
    assert not np.allclose(last.obs, last.info["next_obs"])
    before = states[EPISODE - 2]
    assert np.all(np.asarray(before.info["truncation"]) == 0)
    # the fresh states differ from env to env and from the first episode's (new random draw)
    second = states[2 * EPISODE - 1]
    assert not np.allclose(last.obs, second.obs)
    assert np.all(np.asarray(second.info["episodes"]) == 2)
    assert np.all(np.isfinite(np.asarray(second.info["last_return"])))


def test_nan_physics_is_reset_masked_and_counted():
    states = _run(2, poison=1)
    first = states[0]
    np.testing.assert_array_equal(np.asarray(first.info["valid"]), [1, 0, 1, 1])
    np.testing.assert_array_equal(np.asarray(first.info["nan_resets"]), [0, 1, 0, 0])
    assert np.all(np.isfinite(np.asarray(first.obs)))
    assert np.all(np.isfinite(np.asarray(first.info["next_obs"])))  # what the replay stores
    assert np.all(np.isfinite(np.asarray(first.pipeline_state.qvel)))
    assert float(first.reward[1]) == 0.0
    np.testing.assert_array_equal(np.asarray(states[1].info["valid"]), 1)


def _conds(jaxpr) -> int:
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "cond"
        for sub in jax.core.jaxprs_in_params(eqn.params):
            count += _conds(sub)
    return count


@pytest.mark.slow  # ~35-46 s of tracing and compiling; the default suite's 12-minute budget
def test_reset_switch_stays_a_cond_under_a_seed_vmap():
    """Several seeds vmap the VecEnv; synced over their axis the auto-reset is still computed only
    when some env ended (a cond), and each seed's states equal its own unvmapped run."""
    venv, reset, step = _setup()
    seeds = [reset(jax.random.PRNGKey(s)) for s in (1, 2)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *seeds)
    action = jnp.zeros((venv.num_envs, venv.action_size))
    plain = jax.vmap(venv.step, (0, None))
    tied = jax.vmap(venv.synced("seed").step, (0, None), axis_name="seed")
    conds = [_conds(jax.make_jaxpr(f)(stacked, action).jaxpr) for f in (plain, tied)]
    assert conds[1] == conds[0] + 1, conds  # unsynced, the reset switch became a select
    tied = jax.jit(tied)
    for _ in range(EPISODE + 1):  # through one auto-reset
        stacked, seeds = tied(stacked, action), [step(s, action) for s in seeds]
    for i, one in enumerate(seeds):
        for x, y in zip(jax.tree.leaves(stacked), jax.tree.leaves(one), strict=True):
            np.testing.assert_array_equal(np.asarray(x[i]), np.asarray(y))
