"""Cheetah (dm_control.suite.cheetah): run forward; reward linear in speed up to 10 m/s."""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, physics, rewards
from envs.named import sensor_slice

_RUN_SPEED = 10.0  # m/s at which the reward saturates (dm_control's _RUN_SPEED)
_SETTLE_STEPS = 200  # dm_control steps the physics this long at reset "to stabilise"


class CheetahRun(base.DMCEnv):
    domain, task = "cheetah", "run"
    control_timestep = 0.01  # dm_control default: the physics timestep (1 substep)

    def _setup(self):
        m = self.mj_model
        assert m.nq == m.njnt  # every joint has one dof, as dm_control asserts
        self._limited = np.flatnonzero(m.jnt_limited == 1)
        self._lo, self._hi = (jnp.asarray(v) for v in m.jnt_range[self._limited].T)
        self._speed = sensor_slice(m, "torso_subtreelinvel").start

    def _initialize_episode(self, key, data):
        q = jax.random.uniform(key, self._lo.shape, minval=self._lo, maxval=self._hi)
        data = data.replace(qpos=data.qpos.at[self._limited].set(q))
        data = physics.step(self.mjx_model, data, jnp.zeros_like(data.ctrl), _SETTLE_STEPS)
        return data.replace(time=jnp.zeros_like(data.time)), {}

    def _get_obs(self, data, info):
        # Horizontal position is left out for translational invariance.
        return collections.OrderedDict(position=data.qpos[1:], velocity=data.qvel)

    def _get_reward(self, data, info):
        speed = data.sensordata[self._speed]
        return rewards.tolerance(speed, (_RUN_SPEED, float("inf")), _RUN_SPEED, "linear", 0.0)


TASKS = {"run": CheetahRun}
