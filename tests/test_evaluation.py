"""flowrl_mjx.evaluation: one batch holds both ways of acting, each on its own half."""

import flax.struct
import jax
import jax.numpy as jnp

from flowrl_mjx import evaluation
from flowrl_mjx.config import Config
from flowrl_mjx.networks import make_networks

EPISODE = 5


@flax.struct.dataclass
class _State:
    obs: jax.Array
    reward: jax.Array
    done: jax.Array


class _ActionEcho:
    """One-dim env whose reward is the action taken: a return is the sum of the actions."""

    action_size, observation_size, episode_length = 1, 1, EPISODE

    def reset(self, key):
        return _State(jnp.zeros(1), jnp.zeros(()), jnp.zeros(()))

    def step(self, state, action):
        return state.replace(reward=action[0])


def test_deterministic_half_acts_from_a0_zero_and_stochastic_half_samples():
    cfg = Config(actor_hidden=(8,), critic_hidden=(8,), value_hidden=(8,))
    nets = make_networks(cfg, 1, 1)
    params = nets.actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 1)), jnp.zeros((1, 1)), 0.0)
    # A zero velocity field: the action is tanh(a0), so a0 = 0 gives 0 and sampled a0 do not.
    params = jax.tree.map(jnp.zeros_like, params)
    evaluate = evaluation.make_evaluate(
        cfg, _ActionEcho(), nets, num_envs=4, episode_length=EPISODE
    )
    m = evaluate(params, jax.random.PRNGKey(1))
    assert float(m["eval/return_deterministic"]) == 0.0
    assert float(m["eval/return_deterministic_std"]) == 0.0
    assert float(m["eval/return_stochastic_std"]) > 0.1  # 4 envs x 5 steps of tanh(a0) sums
    assert float(m["eval/nonfinite_episodes"]) == 0.0
