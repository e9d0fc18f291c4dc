"""flowrl_mjx.algorithm.evaluation: one batch holds both ways of acting, each on its own half."""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from flowrl_mjx.algorithm import evaluation, learner, normalizer
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks

EPISODE = 5


@flax.struct.dataclass
class _State:
    obs: jax.Array
    reward: jax.Array
    done: jax.Array


class _ActionEcho:
    """One-dim env whose reward is the action taken: a return is the sum of the actions. Its
    observation is the constant `obs`."""

    action_size, observation_size, episode_length = 1, 1, EPISODE

    def __init__(self, obs=0.0):
        self.obs = obs

    def reset(self, key):
        return _State(jnp.full(1, self.obs), jnp.zeros(()), jnp.zeros(()))

    def step(self, state, action):
        return state.replace(reward=action[0])


def test_deterministic_half_acts_from_a0_zero_and_stochastic_half_samples():
    cfg = Config(actor_hidden=(8,), critic_hidden=(8,), value_hidden=(8,))
    nets = make_networks(cfg, 1, 1)
    params = nets.actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)), jnp.zeros((1, 1)), 0.0)
    # A zero velocity field: the action is tanh(a0), so a0 = 0 gives 0 and sampled a0 do not.
    params = jax.tree.map(jnp.zeros_like, params)
    evaluate = evaluation.make_evaluate(
        cfg, _ActionEcho(), learner.build(cfg, 1, 1), num_envs=4, episode_length=EPISODE
    )
    m = evaluate(params, jax.random.PRNGKey(1))
    assert float(m["eval/return_deterministic"]) == 0.0
    assert float(m["eval/return_deterministic_std"]) == 0.0
    assert float(m["eval/return_stochastic_std"]) > 0.1  # 4 envs x 5 steps of tanh(a0) sums
    assert float(m["eval/nonfinite_episodes"]) == 0.0


def test_obs_norm_evaluates_on_normalised_observations():
    """With obs_norm, evaluating on observations x equals evaluating without it on an env that
    shows the normalised x (same actor, same keys)."""
    cfg = Config(actor_hidden=(8,), critic_hidden=(8,), value_hidden=(8,), obs_norm=True)
    nets = make_networks(cfg, 1, 1)
    params = nets.actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)), jnp.zeros((1, 1)), 0.0)
    stats = normalizer.NormState(
        mean=jnp.array([40.0]), var=jnp.array([16.0]), count=jnp.float32(9)
    )
    shown = float(normalizer.normalize(stats, jnp.array([42.0]))[0])  # 0.5
    key = jax.random.PRNGKey(1)
    plain = dataclasses.replace(cfg, obs_norm=False)
    evaluate = lambda c, obs: evaluation.make_evaluate(
        c, _ActionEcho(obs), learner.build(c, 1, 1), 4, EPISODE
    )
    on = evaluate(cfg, 42.0)(params, key, stats)
    want = evaluate(plain, shown)(params, key)
    raw = evaluate(plain, 42.0)(params, key)
    for k, v in want.items():
        np.testing.assert_allclose(on[k], v, rtol=1e-6, atol=1e-6, err_msg=k)
    assert abs(float(raw["eval/return_deterministic"] - want["eval/return_deterministic"])) > 1e-3
