"""The learner's state pytree (parameters, optimiser states, update counter, observation
statistics) and its init."""

import functools

import flax.struct
import jax
import jax.numpy as jnp
import optax

from flowrl_mjx.algorithm import normalizer
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks


@flax.struct.dataclass
class Params:
    actor: dict  # velocity field v(s, a_t, t)
    critic: dict  # current-policy twin Q
    critic_target: dict
    qbuf: dict  # behaviour-optimal twin Q_buffer
    qbuf_target: dict
    value: dict  # V(s), fitted to min Q_buffer_target by expectile regression (no target copy)


@flax.struct.dataclass
class OptStates:
    actor: optax.OptState
    critic: optax.OptState
    qbuf: optax.OptState
    value: optax.OptState


@flax.struct.dataclass
class AgentState:
    params: Params
    opt: OptStates
    step: jax.Array  # int32: gradient updates done so far (the delays count this)
    # Running observation moments (Config.obs_norm). Always present, so the state's shapes (and
    # checkpoints, seeds' stacking, device layouts) do not depend on the flag; with the flag off
    # they stay at their init and no program reads them.
    obs_norm: normalizer.NormState


def optimizer(cfg: Config) -> optax.GradientTransformation:
    """Adam(lr), PyTorch's defaults otherwise, one instance per network as the official code."""
    return optax.adam(cfg.lr)


def init(key, cfg: Config, obs_size: int, action_size: int) -> AgentState:
    """Fresh parameters. As in the official code, Q_buffer starts as a copy of the critic, and
    both targets start as copies of their online networks. Jitted (one compile, not one per op)."""
    cfg.validate()
    return _init(key, cfg, obs_size, action_size)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init(key, cfg: Config, obs_size: int, action_size: int) -> AgentState:
    nets = make_networks(cfg, obs_size, action_size)
    key_actor, key_critic, key_value = jax.random.split(key, 3)
    obs = jnp.zeros((1, obs_size), jnp.float32)
    act = jnp.zeros((1, action_size), jnp.float32)
    actor = nets.actor.init(key_actor, obs, act, 0.0)
    critic = nets.critic.init(key_critic, obs, act)
    value = nets.value.init(key_value, obs)
    params = Params(
        actor=actor,
        critic=critic,
        critic_target=critic,
        qbuf=critic,
        qbuf_target=critic,
        value=value,
    )
    tx = optimizer(cfg)
    opt = OptStates(
        actor=tx.init(actor),
        critic=tx.init(critic),
        qbuf=tx.init(params.qbuf),
        value=tx.init(value),
    )
    return AgentState(params=params, opt=opt, step=jnp.int32(0), obs_norm=normalizer.init(obs_size))


def observe(cfg: Config, state: AgentState, obs, valid) -> AgentState:
    """Merges newly observed rows (obs (B, obs_size) where valid (B,) > 0) into the observation
    statistics under cfg.obs_norm. Off, the state comes back as is, so no op enters the program."""
    if not cfg.obs_norm:
        return state
    return state.replace(obs_norm=normalizer.update(state.obs_norm, obs, valid))


def legacy_layouts(abstract_state) -> list:
    """Checkpoint layouts of a state holding an AgentState at `.agent` (train.TrainState,
    host_train.HostState) from before AgentState had `obs_norm`, for Checkpoints.restore_latest:
    such runs had no observation statistics, so they resume with fresh ones (unused: those runs
    cannot have obs_norm on)."""
    obs_size = abstract_state.agent.obs_norm.mean.shape[-1]
    old = abstract_state.replace(agent=abstract_state.agent.replace(obs_norm=None))

    def upgrade(state):
        return state.replace(agent=state.agent.replace(obs_norm=normalizer.init(obs_size)))

    return [(old, upgrade)]
