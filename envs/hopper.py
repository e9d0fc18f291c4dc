"""Hopper (dm_control.suite.hopper): a planar one-legged body that balances upright or hops forward.

Both tasks reward standing (torso above the foot by 0.6 to 2 m); stand multiplies by a small-control
term, hop by a forward centre-of-mass speed term.
"""

import collections
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from envs import base, randomizers, rewards
from envs.named import ids, obj_id, sensor_slice

_STAND_HEIGHT = 0.6  # m: torso height over the foot above which standing is rewarded
_MAX_HEIGHT = 2.0  # m: ... and below which
_HOP_SPEED = 2.0  # m/s: forward speed above which hop's speed term is 1


class _Hopper(base.DMCEnv):
    domain = "hopper"
    control_timestep = 0.02  # dm_control's _CONTROL_TIMESTEP: 4 physics steps of 5 ms
    hopping: ClassVar[bool]
    # Max |obs error| one control step after dm_control's state, measured on hop: 6.5e-6 on the
    # test's steps, 4.4e-4 over 300 random-action steps (3 seeds x 100), on joint velocities of
    # order 3 at contact (float32 MJX vs float64 MuJoCo through the contact solver).
    step_tolerance = 1e-3

    def _setup(self):
        m = self.mj_model
        self._torso = obj_id(m, "body", "torso")
        self._foot = obj_id(m, "body", "foot")
        self._speed = sensor_slice(m, "torso_subtreelinvel").start
        # Both touch sensors are 1-d: their sensordata addresses.
        self._touch = np.asarray(m.sensor_adr[ids(m, "sensor", ("touch_toe", "touch_heel"))])

    def _initialize_episode(self, key, data):
        # Joints only (the root hinge too), no penetration check, no settling: as dm_control.
        qpos = randomizers.randomize_hinges_and_slides(self.mj_model, key, data.qpos)
        return data.replace(qpos=qpos), {}

    def _get_obs(self, data, info):
        # The horizontal position (qpos[0]) is left out for translational invariance.
        return collections.OrderedDict(
            position=data.qpos[1:],
            velocity=data.qvel,
            touch=jnp.log1p(data.sensordata[self._touch]),
        )

    def _get_reward(self, data, info):
        # Height of the torso over the foot, between their centres of mass (xipos).
        height = data.xipos[self._torso, 2] - data.xipos[self._foot, 2]
        standing = rewards.tolerance(height, (_STAND_HEIGHT, _MAX_HEIGHT))
        if self.hopping:
            speed = data.sensordata[self._speed]
            return standing * rewards.tolerance(
                speed, (_HOP_SPEED, float("inf")), _HOP_SPEED / 2, "linear", 0.5
            )
        small_control = rewards.tolerance(data.ctrl, margin=1, sigmoid="quadratic",
                                          value_at_margin=0.0).mean()  # fmt: skip
        return standing * (small_control + 4) / 5


class HopperStand(_Hopper):
    task = "stand"
    hopping = False


class HopperHop(_Hopper):
    task = "hop"
    hopping = True


TASKS = {"stand": HopperStand, "hop": HopperHop}
