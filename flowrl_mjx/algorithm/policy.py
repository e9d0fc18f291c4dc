"""The flow policy: a0 -> integrate v(s, ., t) over t in [0, 1] -> tanh (Lv et al. 2025).

The action is a deterministic, differentiable function of (params, obs, a0) (reparameterised), so
gradients of -Q(s, pi(s)) flow back through every ODE step into the velocity field.

Noise a0 ~ N(0, I); in "official" mode it is clipped to [-a0_clip, a0_clip] (the released code
clips to [-1, 1] both when acting and in the flow-matching loss); in "paper" mode it is not.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from flowrl_mjx.algorithm import flow
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import Networks


def sample_a0(cfg: Config, key, shape):
    """The base noise a0 at t = 0: N(0, I), clipped in official mode."""
    a0 = jax.random.normal(key, shape, jnp.float32)
    if cfg.mode == "official":
        a0 = jnp.clip(a0, -cfg.a0_clip, cfg.a0_clip)
    return a0


def make_flow_action(cfg: Config, networks: Networks) -> Callable:
    """flow_action(actor_params, obs, a0) -> tanh(ODE solution at t = 1), in [-1, 1]^act."""
    integrate = flow.INTEGRATORS[cfg.integrator]

    def flow_action(actor_params, obs, a0):
        def v_fn(a_t, t):
            return networks.actor.apply(actor_params, obs, a_t, t)

        return jnp.tanh(integrate(v_fn, a0, cfg.flow_steps))

    return flow_action


def make_policy(cfg: Config, networks: Networks, flow_action: Callable) -> Callable:
    """act(actor_params, obs, key, deterministic=False) -> action in [-1, 1]^act_size.

    obs: shape (*batch, obs_size), any number of leading dims. `deterministic` is a static Python
    bool: True integrates from a0 = 0 (the mode of the base noise; `key` is then unused), which is
    this project's deterministic evaluation. Note: the official code has no deterministic mode;
    its evaluation samples a0 like training, i.e. it is our `deterministic=False`.
    flow_action: make_flow_action's (learner.build builds it once for the policy and losses).
    """
    action_size = networks.action_size

    def act(actor_params, obs, key, deterministic: bool = False):
        shape = obs.shape[:-1] + (action_size,)
        if deterministic:
            a0 = jnp.zeros(shape, jnp.float32)
        else:
            a0 = sample_a0(cfg, key, shape)
        return flow_action(actor_params, obs, a0)

    return act
