"""Ball in cup (dm_control.suite.ball_in_cup): swing a ball on a string into a cup moved in x-z.

Sparse reward: 1 while the ball's centre lies inside the cup's target box shrunk by the ball's
radius. The ball starts at a random collision-free position, at rest, below or beside the cup.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base
from envs.named import obj_id, qpos_slice

_CONTROL_TIMESTEP = 0.02  # dm_control's ball_in_cup control timestep (10 physics steps)
_BALL_X = (-0.2, 0.2)  # initial ball_x joint position ~ U(-0.2, 0.2)
_BALL_Z = (0.2, 0.5)  # initial ball_z joint position ~ U(0.2, 0.5)
_XZ = np.array([0, 2])  # x and z components of a position


class BallInCupCatch(base.DMCEnv):
    domain, task = "ball_in_cup", "catch"
    control_timestep = _CONTROL_TIMESTEP
    # 20 s time limit / 0.02 s = 1000 control steps, the base default.
    # Measured max one-step obs error: 7e-7 while the string is slack and nothing touches; 4.2e-4
    # (velocities) with the string taut or the ball on the cup (held-action rollouts, 2e-4 on the
    # test's random-action states). It stays 4.2e-4 with MJX in float64: MJX's constraint
    # solution differs slightly from MuJoCo's there, not a float32 effect.
    step_tolerance = 1e-3

    def _setup(self):
        m = self.mj_model
        self._ball_x = qpos_slice(m, "ball_x").start
        self._ball_z = qpos_slice(m, "ball_z").start
        self._ball = obj_id(m, "body", "ball")
        self._target = obj_id(m, "site", "target")
        target_size = m.site_size[self._target][[0, 2]]
        ball_size = m.geom_size[obj_id(m, "geom", "ball"), 0]
        self._inside = jnp.asarray(target_size - ball_size, jnp.float32)  # per-axis half-width

    def _initialize_episode(self, key, data):
        def sample(key, qpos):
            k_x, k_z = jax.random.split(key)
            x = jax.random.uniform(k_x, (), minval=_BALL_X[0], maxval=_BALL_X[1])
            z = jax.random.uniform(k_z, (), minval=_BALL_Z[0], maxval=_BALL_Z[1])
            return qpos.at[self._ball_x].set(x).at[self._ball_z].set(z)

        data, failed = self.reject_penetration(key, data, sample)
        return data, {"reset_failures": failed.astype(jnp.int32)}

    def _get_obs(self, data, info):
        return collections.OrderedDict(position=data.qpos, velocity=data.qvel)

    def _get_reward(self, data, info):
        ball_to_target = data.site_xpos[self._target, _XZ] - data.xpos[self._ball, _XZ]
        return jnp.all(jnp.abs(ball_to_target) < self._inside).astype(jnp.float32)

    def info_from_dm_control(self, dm_env):
        return {"reset_failures": jnp.zeros((), jnp.int32)}


TASKS = {"catch": BallInCupCatch}
