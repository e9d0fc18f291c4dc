"""Evaluation inside jit: full episodes on separate eval envs, two ways of acting.

- `eval/return_deterministic`: actions integrated from a0 = 0 (the base noise's mode);
- `eval/return_stochastic`: actions from a0 ~ N(0, I), as the policy acts in training and as the
  official FlowRL code evaluates.
Returns are undiscounted sums over `episode_length` control steps (dm_control's 1000), stopping
early only at a task termination; a non-finite step ends that env's episode and is counted.
With cfg.obs_norm the policy sees the observations normalised by the training statistics.
"""

import jax
import jax.numpy as jnp

from envs import jax_setup
from flowrl_mjx.algorithm import normalizer, policy


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


def make_evaluate(cfg, env, fns, num_envs: int, episode_length: int):
    """make_evaluate_fn's evaluate, jitted with the options of `num_envs` envs of `env` (one eval
    env: see jax_setup), as before the two ways of acting merged into one batch."""
    return jax_setup.jit_env(
        make_evaluate_fn(cfg, env, fns, num_envs, episode_length), num_envs, env
    )


def make_evaluate_fn(cfg, env, fns, num_envs: int, episode_length: int):
    """evaluate(actor_params, key, obs_norm=None) -> metrics dict (means and stds over num_envs
    episodes of each way of acting). obs_norm: the agent's NormState, needed (and read) only
    under cfg.obs_norm. fns: the run's learner.Learner (its flow action acts).

    Both ways run as one batch of 2 * num_envs envs (the first half from a0 = 0), so the program
    holds one env step, not two: each MJX step in a program is traced and compiled on its own,
    and for a short run that compile time is a large share of the whole (figures:
    results/perf_changes.md, "less compiling"). Unjitted, so that seeds.py can vmap it.
    """
    flow_action, action_size = fns.flow_action, fns.action_size
    deterministic = (jnp.arange(2 * num_envs) < num_envs)[:, None]

    def evaluate(actor_params, key, obs_norm=None):
        def act(obs, k):
            a0 = policy.sample_a0(cfg, k, obs.shape[:-1] + (action_size,))
            net_obs = normalizer.inputs(cfg.obs_norm, obs_norm, obs)
            return flow_action(actor_params, net_obs, jnp.where(deterministic, 0.0, a0))

        returns, bad = episode_returns(env, act, key, 2 * num_envs, episode_length)
        det, sto = returns[:num_envs], returns[num_envs:]
        return {
            "eval/return_deterministic": jnp.mean(det),
            "eval/return_deterministic_std": jnp.std(det),
            "eval/return_stochastic": jnp.mean(sto),
            "eval/return_stochastic_std": jnp.std(sto),
            "eval/nonfinite_episodes": bad.astype(jnp.float32),
        }

    return evaluate
