"""Stacker (dm_control.suite.stacker): the manipulator's planar arm stacks 2 or 4 boxes so that one
reaches a target, with the hand kept away from the target.

The target is a contact-free ghost box whose position dm_control draws per episode and writes into
the model; here it is `info['target_pos']` (with `target_quat`, as built), applied to the physics
through envs.manipulator.PlanarArm.episode_model so that pipeline_state shows it where dm_control
does. Boxes collide with everything (box-box, box-plane, box-capsule, box-sphere: all in MJX).

Step parity (one control step from dm_control's state, 80 random-action states): median 2e-6
(stack_2) / 7e-6 (stack_4), but box impacts differ a lot: 8% (stack_2) / 36% (stack_4) of steps
exceed 1e-3, max 9.7 / 14.4 (a box's angular velocity). Causes, both MJX 3.17's: its plane-box
collider keeps only corners within 1 mm of the deepest one (MuJoCo: every penetrating corner), so a
box landing tilted loses a contact (with MuJoCo's rule the max drops to 2.6 / 2.5); its box-box
collider returns duplicated points placed on a face rather than mid-penetration.
"""

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from envs import model_io, rewards
from envs.manipulator import PlanarArm
from envs.named import obj_id, qpos_slice, qvel_slice

_CLOSE = 0.01  # m: margin of the hand-is-far term
_HAND_FAR = 0.1  # m: the hand-to-target distance above which the hand counts as far
_TARGET_X = 0.37  # m: target x uniform in [-0.37, 0.37]
_BOX_LO, _BOX_HI = (0.1, 0.0, 0.0), (0.3, 0.7, 2 * np.pi)  # initial box (x, z, angle), uniform
_X, _Z = 0, 2  # xpos entries in the arm's plane

# stack_4's 339 contact slots (all condim 3); the check rolled out stack_4, whose geoms include
# every geom of stack_2, with twice the boxes to touch.
CONTACT_CAPS = model_io.measured_contact_caps(
    "stacker",
    64,
    "at most 30 contacts (all condim 3) were active at once in stack_4: 339 -> 64 contact slots "
    "(stack_2: 239 -> 64)",
)


class _Stack(PlanarArm):
    """dm_control's Stack task for `n_boxes` boxes."""

    domain = "stacker"
    n_boxes: ClassVar[int]
    episode_bodies = ("target",)
    patches = (CONTACT_CAPS,)
    # Max |obs error| after one control step on the parity test's states (seed 0, steps 0/5/15):
    # 7e-7 (stack_2), 1.4e-5 (stack_4); box impacts are far worse, see the module doc.
    step_tolerance = 1e-3

    @classmethod
    def model_xml(cls):
        try:
            from dm_control.suite import stacker
        except ImportError as e:
            raise RuntimeError("building the stacker model needs dm_control, or pass "
                               "model_file=<exported .mjb>") from e  # fmt: skip
        xml, assets = stacker.make_model(cls.n_boxes)
        return xml.decode(), assets

    def _setup(self):
        super()._setup()
        m = self.mj_model
        assert m.nsensordata == self._touch.size  # dm_control's touch() reads all sensordata
        names = [f"box{b}" for b in range(self.n_boxes)]
        self._boxes = np.array([obj_id(m, "body", b) for b in names])
        self._box_sites = np.array([obj_id(m, "site", b) for b in names])
        # qpos per box in (x, z, angle) order; qvel in dm_control's joint-name order x, y, z.
        self._box_q = np.array([[qpos_slice(m, f"{b}_{a}").start for a in "xzy"] for b in names])
        self._box_v = np.array([qvel_slice(m, f"{b}_{a}").start for b in names for a in "xyz"])
        self._target_site = obj_id(m, "site", "target")
        self._box_size = float(m.geom_size[obj_id(m, "geom", "target"), 0])

    def _sample(self, key, data, qvel):
        """One draw of dm_control's loop: arm, target height and x, every box uniformly."""
        k_arm, k_height, k_x, k_boxes = jax.random.split(key, 4)
        qpos = self._sample_arm(k_arm, data.qpos)
        height = 2 * jax.random.randint(k_height, (), 0, self.n_boxes) + 1  # odd, in box halves
        x = jax.random.uniform(k_x, minval=-_TARGET_X, maxval=_TARGET_X)
        info = self._episode_pose("target", x, self._box_size * height)
        boxes = jax.random.uniform(k_boxes, self._box_q.shape, minval=jnp.array(_BOX_LO),
                                   maxval=jnp.array(_BOX_HI))  # fmt: skip
        return qpos.at[self._box_q].set(boxes), qvel, info

    def _initialize_episode(self, key, data):
        return self.draw_until_free(key, data, self._sample)

    def _get_obs(self, data, info):
        obs = self._arm_obs(data)
        obs["hand_pos"] = self._pose_2d(data, self._hand)
        obs["box_pos"] = jnp.stack([self._pose_2d(data, b) for b in self._boxes])
        obs["box_vel"] = data.qvel[self._box_v]
        obs["target_pos"] = info["target_pos"][jnp.array([_X, _Z])]
        return obs

    def _get_reward(self, data, info):
        target = self._episode_site(info, "target", self._target_site)
        box_distance = jnp.linalg.norm(data.site_xpos[self._box_sites] - target, axis=-1).min()
        box_is_close = rewards.tolerance(box_distance, margin=2 * self._box_size)
        hand_distance = jnp.linalg.norm(data.site_xpos[self._grasp] - target)
        hand_is_far = rewards.tolerance(hand_distance, (_HAND_FAR, float("inf")), _CLOSE)
        return box_is_close * hand_is_far


class Stack2(_Stack):
    task, n_boxes = "stack_2", 2


class Stack4(_Stack):
    task, n_boxes = "stack_4", 4


TASKS = {"stack_2": Stack2, "stack_4": Stack4}
