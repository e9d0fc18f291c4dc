"""`Learner`: the agent's functions for one (config, observation size, action size, env count),
built once and handed to everything that acts or learns.

The networks, the flow action (the ODE solve every act and loss goes through), the policy, the
losses and the K-update step are built here, once per run; the fused epoch (train.py), the
evaluation, the dm_control backend's learner (dmc_backend/host_train.py) and trained-policy
loading (runtime/policy_io.py) take them from `build`, which returns the same bundle for the
same arguments.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from flowrl_mjx.algorithm import agent, losses, policy, replay, update
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import Networks, make_networks


@dataclasses.dataclass(frozen=True)
class Learner:
    cfg: Config
    obs_size: int
    action_size: int
    nets: Networks  # velocity field (actor), twin Q, V
    flow_action: Callable  # (actor_params, obs, a0) -> action: the policy's ODE solve
    act: Callable  # (actor_params, obs, key, deterministic=False) -> action (policy.py)
    losses: losses.Losses  # critic, Q_buffer, V, actor (losses.py)
    update: Callable  # (agent_state, replay_state, key) -> (agent_state, metrics) (update.py)

    def init(self, key) -> agent.AgentState:
        """Fresh agent state (agent.init)."""
        return agent.init(key, self.cfg, self.obs_size, self.action_size)

    @functools.cached_property
    def no_metrics(self) -> dict:
        """Zeros shaped like the update's metrics: what an iteration without updates reports."""
        cfg, obs, act = self.cfg, self.obs_size, self.action_size
        agent_shape = jax.eval_shape(self.init, jax.random.PRNGKey(0))
        replay_shape = jax.eval_shape(lambda: replay.init(cfg.replay_size, obs, act))
        shapes = jax.eval_shape(self.update, agent_shape, replay_shape, jax.random.PRNGKey(0))[1]
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


@functools.lru_cache(maxsize=16)
def build(cfg: Config, obs_size: int, action_size: int, stride: int = 1) -> Learner:
    """The Learner of a config and task sizes. stride: the transitions one iteration inserts
    (num_envs), which separate an env's consecutive steps in the replay ring (n-step targets)."""
    cfg.validate()
    nets = make_networks(cfg, obs_size, action_size)
    flow_action = policy.make_flow_action(cfg, nets)
    fns = losses.make_losses(cfg, nets, flow_action)
    return Learner(
        cfg=cfg,
        obs_size=obs_size,
        action_size=action_size,
        nets=nets,
        flow_action=flow_action,
        act=policy.make_policy(cfg, nets, flow_action),
        losses=fns,
        update=update.make_update(cfg, nets, fns, stride),
    )
