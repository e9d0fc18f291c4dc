"""Walker (dm_control.suite.walker): a planar biped that stands, walks or runs.

One task class covers the three tasks: the target speed selects the reward (0 = stand only).
"""

import collections

import numpy as np

from envs import base, randomizers, rewards
from envs.named import obj_id, sensor_slice

_STAND_HEIGHT = 1.2  # torso height (m) above which the standing term is 1
_WALK_SPEED = 1.0  # horizontal centre-of-mass speed (m/s) where the walk reward saturates
_RUN_SPEED = 8.0  # same, for run
_XX_XZ = np.array([0, 2])  # columns x and z of a body frame's first row (xmat "xx", "xz")


class _PlanarWalker(base.DMCEnv):
    domain = "walker"
    control_timestep = 0.025  # dm_control's _CONTROL_TIMESTEP: 10 physics steps of 2.5 ms
    # Max |obs error| one control step after dm_control's state, measured on walker_run: 1.9e-5 on
    # the test's steps, 2.7e-3 over 300 random-action steps (3 seeds x 100); the outliers are joint
    # velocities at contact onset (float32 MJX vs float64 MuJoCo through the contact solver).
    step_tolerance = 3e-3
    move_speed = 0.0  # 0: reward standing only

    def _setup(self):
        m = self.mj_model
        self._torso = obj_id(m, "body", "torso")
        self._speed = sensor_slice(m, "torso_subtreelinvel").start

    def _initialize_episode(self, key, data):
        # dm_control only randomises the joints (the root hinge too) and lets the walker fall from
        # there: no penetration check and no settling steps.
        qpos = randomizers.randomize_hinges_and_slides(self.mj_model, key, data.qpos)
        return data.replace(qpos=qpos), {}

    def _get_obs(self, data, info):
        # Planar orientation of every body but the world: the (xx, xz) entries of its frame.
        orientations = data.xmat[1:, 0, _XX_XZ].ravel()
        return collections.OrderedDict(
            orientations=orientations,
            height=data.xpos[self._torso, 2],
            velocity=data.qvel,
        )

    def _get_reward(self, data, info):
        standing = rewards.tolerance(
            data.xpos[self._torso, 2], (_STAND_HEIGHT, float("inf")), _STAND_HEIGHT / 2
        )
        upright = (1 + data.xmat[self._torso, 2, 2]) / 2
        stand_reward = (3 * standing + upright) / 4
        if self.move_speed == 0:
            return stand_reward
        move_reward = rewards.tolerance(
            data.sensordata[self._speed],
            (self.move_speed, float("inf")),
            self.move_speed / 2,
            "linear",
            0.5,
        )
        return stand_reward * (5 * move_reward + 1) / 6


class WalkerStand(_PlanarWalker):
    task = "stand"


class WalkerWalk(_PlanarWalker):
    task = "walk"
    move_speed = _WALK_SPEED


class WalkerRun(_PlanarWalker):
    task = "run"
    move_speed = _RUN_SPEED


TASKS = {"stand": WalkerStand, "walk": WalkerWalk, "run": WalkerRun}
