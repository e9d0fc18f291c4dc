"""Humanoid (dm_control.suite.humanoid): a 21-actuator humanoid that stands, walks or runs.

The reward is the product of standing (head height), uprightness (torso z-axis), small control and
either staying still (stand) or a horizontal centre-of-mass speed target (walk, run). Episodes start
from a uniformly random, collision-free pose; nothing is written into the model per episode.
`HumanoidBase` is shared with envs/humanoid_cmu.py, which differs only in body names and constants.
"""

import collections
import xml.etree.ElementTree as ET
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from envs import base, model_io, randomizers, rewards
from envs.named import ids, obj_id, sensor_slice

_STAND_HEIGHT = 1.4  # m: head height above which the standing term is 1
WALK_SPEED = 1.0  # m/s: horizontal CoM speed above which walk's move term is 1 (both humanoids)
RUN_SPEED = 10.0  # m/s: the same for run
_UPRIGHT_MIN = 0.9  # upright term is 1 when the torso z-axis' world-z component exceeds this
_UPRIGHT_MARGIN = 1.9  # ... and falls linearly to 0 at -1 (upside down)
_STILL_MARGIN = 2.0  # m/s: gaussian margin of stand's horizontal-velocity term
# xmat is stored row-major: entry 3 * r + c is R[r, c]; row 2 holds the world-z components
# (dm_control's 'zx', 'zy', 'zz') of the body's x, y, z axes.
_XMAT_ZX, _XMAT_ZY, _XMAT_ZZ = 6, 7, 8
_FREE_JOINT_QPOS = 7  # the root free joint's qpos entries, left out of joint_angles


def keep_only_sensors(*names):
    """Patch dropping every sensor but `names` (the ones observations read)."""

    def apply(root: ET.Element) -> None:
        for block in root.findall("sensor"):
            for sensor in list(block):
                if sensor.get("name") not in names:
                    block.remove(sensor)

    return model_io.Patch(
        "keep_observed_sensors",
        "Sensors no observation or reward reads (touch, force, torque, accelerometer, gyro, "
        "velocimeter) are removed: they never act on the physics, but MJX would compile and run "
        f"them every substep (force/torque need an extra RNE pass). Kept: {', '.join(names)}, "
        "first in sensordata as in dm_control's model.",
        xml=apply,
    )


class HumanoidBase(base.DMCEnv):
    """dm_control's Humanoid task; subclasses fix the task constants below."""

    move_speed: ClassVar[float]  # 0 = stand task, else the target horizontal CoM speed
    pure_state: ClassVar[bool] = False  # observations are raw (qpos, qvel) instead of features
    # Model names (dm_control's Physics methods read these bodies/sensors).
    torso_body: ClassVar[str] = "torso"
    extremity_bodies: ClassVar[tuple] = ("left_hand", "left_foot", "right_hand", "right_foot")
    com_velocity_sensor: ClassVar[str] = "torso_subtreelinvel"
    upright_index: ClassVar[int] = _XMAT_ZZ  # humanoid: torso z-axis; CMU: thorax y-axis

    def _setup(self):
        m = self.mj_model
        self._torso = obj_id(m, "body", self.torso_body)
        self._head = obj_id(m, "body", "head")
        self._extremities = ids(m, "body", self.extremity_bodies)
        self._com_vel = sensor_slice(m, self.com_velocity_sensor)
        # The kept sensor is also first in dm_control's sensordata, so a dm_control state copied
        # into MJX (parity tests) reads it at the same address.
        assert self._com_vel.start == 0, "CoM velocity sensor must come first in sensordata"

    def _initialize_episode(self, key, data):
        def sample(k, qpos):
            return randomizers.randomize_free_hinges_and_slides(self.mj_model, k, qpos)

        data, failed = self.reject_penetration(key, data, sample)
        return data, {"reset_failures": failed.astype(jnp.int32)}

    # ----- dm_control Physics features -----
    def _extremities_egocentric(self, data):
        """Hands and feet relative to the torso, in the torso frame (v @ R, row per limb)."""
        rot = data.xmat[self._torso]
        rel = data.xpos[self._extremities] - data.xpos[self._torso]
        return rel @ rot

    def _com_velocity(self, data):
        return data.sensordata[self._com_vel]

    def _head_height(self, data):
        return data.xpos[self._head, 2]

    def _get_obs(self, data, info):
        if self.pure_state:
            return collections.OrderedDict(position=data.qpos, velocity=data.qvel)
        rot = data.xmat[self._torso].reshape(9)
        return collections.OrderedDict(
            joint_angles=data.qpos[_FREE_JOINT_QPOS:],
            head_height=self._head_height(data),
            extremities=self._extremities_egocentric(data),
            torso_vertical=rot[jnp.array([_XMAT_ZX, _XMAT_ZY, _XMAT_ZZ])],
            com_velocity=self._com_velocity(data),
            velocity=data.qvel,
        )

    def _get_reward(self, data, info):
        standing = rewards.tolerance(
            self._head_height(data), (_STAND_HEIGHT, float("inf")), _STAND_HEIGHT / 4
        )
        upright_value = data.xmat[self._torso].reshape(9)[self.upright_index]
        upright = rewards.tolerance(
            upright_value, (_UPRIGHT_MIN, float("inf")), _UPRIGHT_MARGIN, "linear", 0.0
        )
        small_control = rewards.tolerance(data.ctrl, margin=1.0, sigmoid="quadratic",
                                          value_at_margin=0.0).mean()  # fmt: skip
        small_control = (4 + small_control) / 5
        horizontal = self._com_velocity(data)[:2]
        if self.move_speed == 0:
            move = rewards.tolerance(horizontal, margin=_STILL_MARGIN).mean()
        else:
            speed = jnp.linalg.norm(horizontal)
            move = rewards.tolerance(
                speed, (self.move_speed, float("inf")), self.move_speed, "linear", 0.0
            )
            move = (5 * move + 1) / 6
        return small_control * standing * upright * move

    def info_from_dm_control(self, dm_env):
        return {"reset_failures": np.zeros((), np.int32)}


# 161 candidate pairs: 142 slots of condim 1 (self pairs) and 35 of condim 3 (with the floor).
CONTACT_CAPS = model_io.measured_contact_caps(
    "humanoid",
    32,
    "at most 9 contacts of condim 1 and 9 of condim 3 were active at once: 177 -> 64 contact slots",
)


class _Humanoid(HumanoidBase):
    domain = "humanoid"
    patches = (keep_only_sensors("torso_subtreelinvel"), CONTACT_CAPS)
    control_timestep = 0.025  # dm_control's _CONTROL_TIMESTEP: 5 physics steps of 5 ms
    # TODO(measure): step parity error.
    step_tolerance = 1e-3


class HumanoidStand(_Humanoid):
    task, move_speed = "stand", 0.0


class HumanoidWalk(_Humanoid):
    task, move_speed = "walk", WALK_SPEED


class HumanoidRun(_Humanoid):
    task, move_speed = "run", RUN_SPEED


class HumanoidRunPureState(_Humanoid):
    task, move_speed, pure_state = "run_pure_state", RUN_SPEED, True


TASKS = {
    "stand": HumanoidStand,
    "walk": HumanoidWalk,
    "run": HumanoidRun,
    "run_pure_state": HumanoidRunPureState,
}
