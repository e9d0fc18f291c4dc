"""Fish (dm_control.suite.fish): a fish in a fluid (no gravity) turns upright or swims to a target.

The fish model switches constraints off, so MuJoCo never detects collisions for it; the only
environment forces are the inertia-box fluid drag of `option density`, which MJX implements. MJX
3.17 still rejects the model because it checks the geom types of every *candidate* collision pair
(see NO_COLLISION_PAIRS, also used by envs/swimmer.py). Swim's target position is drawn per episode
(dm_control writes it into the model); here it lives in `info['target_pos']`.
"""

import collections

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from envs import base, model_io, rewards
from envs.named import obj_id, qpos_slice

# The tail and fin joints (dm_control's _JOINTS, in its order): joint_angles / initial angles.
_JOINTS = ("tail1", "tail_twist", "tail2", "finright_roll", "finright_pitch", "finleft_roll",
           "finleft_pitch")  # fmt: skip
_JOINT_INIT = 0.2  # rad: each of _JOINTS starts uniform in [-0.2, 0.2]
# Swim target: x, y uniform in [-0.4, 0.4], z uniform in [0.1, 0.3] (m).
_TARGET_LO = np.array([-0.4, -0.4, 0.1])
_TARGET_HI = np.array([0.4, 0.4, 0.3])
_XMAT_ZZ = 8  # row-major xmat entry (z, z): the world-z component of the body's z-axis

_NO_CONTACT = int(mujoco.mjtDisableBit.mjDSBL_CONTACT | mujoco.mjtDisableBit.mjDSBL_CONSTRAINT)


def _clear_collision_filters(m: mujoco.MjModel) -> None:
    if not m.opt.disableflags & _NO_CONTACT:
        raise ValueError("NO_COLLISION_PAIRS is only exact for models with contacts switched off")
    m.geom_contype[:] = 0
    m.geom_conaffinity[:] = 0


NO_COLLISION_PAIRS = model_io.Patch(
    "no_collision_pairs",
    "The model disables contact (swimmer) or constraint (fish), so MuJoCo's mj_collision returns "
    "at once and no contact ever exists; MJX 3.17's put_model still rejects every candidate pair "
    "whose geom types it cannot collide (ellipsoid-box here) and, for fish, would run narrow-phase "
    "collision every step for nothing. Clearing contype/conaffinity of all geoms removes the "
    "candidates; only collision filtering reads them, so the dynamics are unchanged (native "
    "MuJoCo trajectories with and without the patch are bitwise equal over 100 control steps).",
    model=_clear_collision_filters,
)


class _Fish(base.DMCEnv):
    domain = "fish"
    control_timestep = 0.04  # dm_control's _CONTROL_TIMESTEP: 10 physics steps of 4 ms
    patches = (NO_COLLISION_PAIRS,)
    # Measured max |obs error| after one control step from dm_control's state: 4.2e-6 over 25
    # random-action states (both tasks; 100-step open loop stays within 6.5e-6): float32 rounding
    # on velocities of order 1-10.
    step_tolerance = 2e-5

    def _setup(self):
        m = self.mj_model
        self._root_quat = qpos_slice(m, "root").start + 3
        self._joints_q = np.array([qpos_slice(m, j).start for j in _JOINTS])
        self._torso = obj_id(m, "body", "torso")
        self._mouth = obj_id(m, "geom", "mouth")
        self._target = obj_id(m, "geom", "target")
        self._radii = float(m.geom_size[self._mouth, 0] + m.geom_size[self._target, 0])

    def _initialize_episode(self, key, data):
        # Orientation: a normalised 4-D Gaussian (uniform on rotations); fins and tail near zero.
        k_quat, k_joints, k_target = jax.random.split(key, 3)
        quat = jax.random.normal(k_quat, (4,))
        angles = jax.random.uniform(k_joints, (len(_JOINTS),), minval=-_JOINT_INIT,
                                    maxval=_JOINT_INIT)  # fmt: skip
        qpos = data.qpos.at[self._root_quat : self._root_quat + 4].set(quat / jnp.linalg.norm(quat))
        qpos = qpos.at[self._joints_q].set(angles)
        return data.replace(qpos=qpos), self._draw_info(k_target)

    def _draw_info(self, key) -> dict:
        return {}

    def _upright(self, data):
        return data.xmat[self._torso].reshape(9)[_XMAT_ZZ]


class FishUpright(_Fish):
    task = "upright"

    def _get_obs(self, data, info):
        return collections.OrderedDict(
            joint_angles=data.qpos[self._joints_q],
            upright=self._upright(data),
            velocity=data.qvel,
        )

    def _get_reward(self, data, info):
        return rewards.tolerance(self._upright(data), (1.0, 1.0), 1.0)


class FishSwim(_Fish):
    task = "swim"

    def _draw_info(self, key):
        lo, hi = jnp.asarray(_TARGET_LO), jnp.asarray(_TARGET_HI)
        return {"target_pos": jax.random.uniform(key, (3,), minval=lo, maxval=hi)}

    def _mouth_to_target(self, data, info):
        """Mouth-to-target vector in the mouth frame (target is a world geom: pos = info)."""
        return (info["target_pos"] - data.geom_xpos[self._mouth]) @ data.geom_xmat[self._mouth]

    def _get_obs(self, data, info):
        return collections.OrderedDict(
            joint_angles=data.qpos[self._joints_q],
            upright=self._upright(data),
            target=self._mouth_to_target(data, info),
            velocity=data.qvel,
        )

    def _get_reward(self, data, info):
        distance = jnp.linalg.norm(self._mouth_to_target(data, info))
        in_target = rewards.tolerance(distance, (0.0, self._radii), 2 * self._radii)
        is_upright = 0.5 * (self._upright(data) + 1)
        return (7 * in_target + is_upright) / 8

    def info_from_dm_control(self, dm_env):
        pos = dm_env.physics.named.model.geom_pos["target"]
        return {"target_pos": np.array(pos)}


TASKS = {"upright": FishUpright, "swim": FishSwim}
