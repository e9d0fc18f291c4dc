"""LQR (dm_control.suite.lqr): drive a chain of random springs (slide joints) to the origin.

lqr_2_1: 2 bodies, the first actuated; lqr_6_2: 6 bodies, the first 2 actuated. Reward
1 - (|qpos|^2 / 2 + 0.1 |ctrl|^2 / 2); the episode terminates when |(qpos, qvel)| < 1e-6.

Differences from dm_control, by necessity:
- dm_control draws the joint stiffnesses (U(15, 25)) from the task's seed when the environment is
  built, so the model differs per seed. One MJX model is shared by all envs here, so it is built
  from the override `model_seed` (default 0), exactly as dm_control builds it for
  `random=model_seed`; the episodes' initial states are then drawn from the JAX key.
- dm_control's time limit is infinite; here an episode is truncated (not terminated) after
  `episode_length` control steps (default 1000 = 30 s), since training needs finite episodes.
- The motors have no ctrlrange (dm_control's action spec is unbounded); actions in [-1, 1] map to
  ctrl in [-1, 1], as for every unlimited actuator in this package.
"""

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, model_io

_CONTROL_COST_COEF = 0.1  # weight of the control cost in the reward
_TERMINAL_TOL = 1e-6  # the episode ends when the state norm falls below this
_INITIAL_NORM = float(np.sqrt(2))  # initial qpos: uniform on the sphere of this radius


class LQR(base.DMCEnv):
    """dm_control's LQRLevel; subclasses fix the chain size."""

    domain = "lqr"
    control_timestep = 0.03  # dm_control default: the physics timestep (1 substep)
    # Measured max one-step obs error (float32): 3e-7 over 50 states x 3 model seeds (a linear,
    # constraint-free system).
    step_tolerance = 2e-6
    task_overrides = {
        "model_seed": "seed dm_control uses to draw the joint stiffnesses (default 0)"
    }
    n_bodies: int
    n_actuators: int

    def __init__(self, model_seed=0, **overrides):
        if int(model_seed) != model_seed or model_seed < 0:
            raise ValueError(f"model_seed must be a non-negative integer, got {model_seed!r}")
        self.model_seed = int(model_seed)
        # The instance's model_xml (read by the base constructor) uses this model seed.
        self.model_xml = functools.partial(type(self).model_xml, model_seed=self.model_seed)
        super().__init__(model_seed=self.model_seed, **overrides)

    @classmethod
    def model_xml(cls, model_seed=0):
        random = np.random.RandomState(model_seed)
        xml, assets = model_io.dm_control_xml(cls.domain, cls.n_bodies, cls.n_actuators, random)
        return (xml.decode() if isinstance(xml, bytes) else xml), assets

    def _initialize_episode(self, key, data):
        unit = jax.random.normal(key, (self.mj_model.nq,))
        return data.replace(qpos=_INITIAL_NORM * unit / jnp.linalg.norm(unit)), {}

    def _get_obs(self, data, info):
        return collections.OrderedDict(position=data.qpos, velocity=data.qvel)

    def _get_reward(self, data, info):
        state_cost = 0.5 * jnp.dot(data.qpos, data.qpos)
        control_cost = 0.5 * jnp.dot(data.ctrl, data.ctrl)
        return 1 - (state_cost + _CONTROL_COST_COEF * control_cost)

    def _get_termination(self, data, info):
        state = jnp.concatenate([data.qpos, data.qvel, data.act])
        return jnp.linalg.norm(state) < _TERMINAL_TOL


class LQR21(LQR):
    task, n_bodies, n_actuators = "lqr_2_1", 2, 1


class LQR62(LQR):
    task, n_bodies, n_actuators = "lqr_6_2", 6, 2


TASKS = {"lqr_2_1": LQR21, "lqr_6_2": LQR62}
