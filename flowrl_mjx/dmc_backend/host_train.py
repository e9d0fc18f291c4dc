"""The jitted learner of `--backend dm_control`: replay insert, K updates and the next actions in
one call per iteration, fed with the transitions the host stepped.

The order is the fused MJX iteration's (train.make_epoch), cut where the envs step: the MJX
program does act -> env step -> insert -> K updates; here `learn_and_act` does insert -> K
updates -> act for the next step, and the host steps dm_control in between. So the actions of
step t+1 come from the parameters after the updates of step t, exactly as in the MJX program.
With cfg.obs_norm, `learn_and_act` first merges the stepped observations (valid rows) into the
running statistics, as the MJX iteration does right after its env step.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from flowrl_mjx.algorithm import agent, learner, normalizer, replay
from flowrl_mjx.algorithm.config import Config


@flax.struct.dataclass
class HostState:
    agent: agent.AgentState
    replay: replay.ReplayState
    key: jax.Array
    env_steps: jax.Array  # int32 total env steps taken (all envs)


class Programs(NamedTuple):
    """The jitted functions of one (config, sizes); see `programs`."""

    start: Callable
    learn_and_act: Callable
    act: Callable


def init(key, cfg: Config, obs_size: int, action_size: int) -> HostState:
    key_agent, key = jax.random.split(key)
    state = HostState(
        agent=agent.init(key_agent, cfg, obs_size, action_size),
        replay=replay.init(cfg.replay_size, obs_size, action_size),
        key=key,
        env_steps=jnp.zeros((), jnp.int32),
    )
    return place(state)


def place(state: HostState) -> HostState:
    """Commits every leaf to the default device, so a fresh and a restored state share one
    compiled program (jit keys its cache on committedness; see train.place)."""
    return jax.device_put(state, jax.local_devices()[0])


@functools.lru_cache(maxsize=4)
def programs(cfg: Config, num_envs: int, obs_size: int, action_size: int) -> Programs:
    """start(state, obs) -> (state, action); learn_and_act(state, batch, obs) -> (state, action,
    metrics) (donates state); act(actor_params, obs_norm, obs, key, deterministic) for
    evaluation (obs_norm: the agent's statistics, read only under cfg.obs_norm)."""
    agent_fns = learner.build(cfg, obs_size, action_size, stride=num_envs)
    act, learn, no_metrics = agent_fns.act, agent_fns.update, agent_fns.no_metrics

    def act_on(actor_params, obs_norm, obs, key, deterministic=False):
        """The policy on the network's view of obs (normalised under cfg.obs_norm)."""
        return act(actor_params, normalizer.inputs(cfg.obs_norm, obs_norm, obs), key, deterministic)

    def choose(agent_state: agent.AgentState, obs, env_steps, key):
        """Uniform random actions during warm-up, flow-policy samples after (as train.py)."""
        k_act, k_rand = jax.random.split(key)
        a_pi = act_on(agent_state.params.actor, agent_state.obs_norm, obs, k_act)
        a_rand = jax.random.uniform(k_rand, a_pi.shape, minval=-1.0, maxval=1.0)
        return jnp.where(env_steps < cfg.warmup_steps, a_rand, a_pi)

    def start(state: HostState, obs):
        key, k = jax.random.split(state.key)
        return state.replace(key=key), choose(state.agent, obs, state.env_steps, k)

    def learn_and_act(state: HostState, batch: replay.Transition, obs):
        key, k_learn, k_next = jax.random.split(state.key, 3)
        buf = replay.insert(state.replay, batch)
        steps = state.env_steps + num_envs
        learning = steps >= cfg.warmup_steps
        observed = agent.observe(cfg, state.agent, obs, batch.valid)  # obs acted on next
        new_agent, metrics = jax.lax.cond(
            learning, learn, lambda a, b, k: (a, no_metrics), observed, buf, k_learn
        )
        metrics = dict(metrics, **{"train/learning": learning.astype(jnp.float32)})
        action = choose(new_agent, obs, steps, k_next)
        return HostState(new_agent, buf, key, steps), action, metrics

    return Programs(
        start=jax.jit(start),
        learn_and_act=jax.jit(learn_and_act, donate_argnums=0),
        act=jax.jit(act_on, static_argnums=4),
    )
