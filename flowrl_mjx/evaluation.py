"""Evaluation inside jit: full episodes on separate eval envs, two ways of acting.

- `eval/return_deterministic`: actions integrated from a0 = 0 (the base noise's mode);
- `eval/return_stochastic`: actions from a0 ~ N(0, I), as the policy acts in training and as the
  official FlowRL code evaluates.
Returns are undiscounted sums over `episode_length` control steps (dm_control's 1000), stopping
early only at a task termination; a non-finite step ends that env's episode and is counted.
"""

import jax
import jax.numpy as jnp

from flowrl_mjx import jax_setup, policy


def episode_returns(env, act, key, num_envs: int, episode_length: int):
    """(returns, nonfinite count) of num_envs episodes; act(obs, key) -> actions."""
    key_reset, key_act = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(key_reset, num_envs))
    step = jax.vmap(env.step)

    def body(carry, k):
        state, total, alive, bad = carry
        state = step(state, act(state.obs, k))
        finite = jnp.isfinite(state.reward) & jnp.all(jnp.isfinite(state.obs), axis=-1)
        total = total + jnp.where(alive & finite, state.reward, 0.0)
        bad = bad | (alive & ~finite)
        alive = alive & finite & (state.done == 0)
        return (state, total, alive, bad), None

    zeros, ones = jnp.zeros(num_envs), jnp.ones(num_envs, bool)
    carry = (state, zeros, ones, jnp.zeros(num_envs, bool))
    keys = jax.random.split(key_act, episode_length)
    (_, total, _, bad), _ = jax.lax.scan(body, carry, keys)
    return total, jnp.sum(bad)


def make_evaluate(cfg, env, networks, num_envs: int, episode_length: int):
    """evaluate(actor_params, key) -> metrics dict (means and stds over num_envs episodes)."""
    act = policy.make_policy(cfg, networks)

    def episode(actor_params, key, deterministic: bool):
        policy_fn = lambda obs, k: act(actor_params, obs, k, deterministic)  # noqa: E731
        return episode_returns(env, policy_fn, key, num_envs, episode_length)

    def evaluate(actor_params, key):
        key_det, key_sto = jax.random.split(key)
        det, bad_det = episode(actor_params, key_det, True)
        sto, bad_sto = episode(actor_params, key_sto, False)
        return {
            "eval/return_deterministic": jnp.mean(det),
            "eval/return_deterministic_std": jnp.std(det),
            "eval/return_stochastic": jnp.mean(sto),
            "eval/return_stochastic_std": jnp.std(sto),
            "eval/nonfinite_episodes": (bad_det + bad_sto).astype(jnp.float32),
        }

    return jax_setup.jit_env(evaluate, num_envs, env)  # one eval env, some tasks: see jax_setup
