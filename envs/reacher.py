"""Reacher (dm_control.suite.reacher): a two-link planar arm touches a randomly placed target.

Sparse reward: 1 while the fingertip sphere overlaps the target sphere (radius 0.05 in `easy`,
0.015 in `hard`). The target position is drawn per episode; dm_control writes it into the model,
here it lives in info['target'] (x, y), since the MJX model is shared by all environments.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, randomizers, rewards
from envs.named import obj_id

_TARGET_RADIUS = (0.05, 0.20)  # target distance from the arm's base ~ U(0.05, 0.20)


class Reacher(base.DMCEnv):
    """dm_control's Reacher task; subclasses fix the target size."""

    domain = "reacher"
    control_timestep = 0.02  # dm_control default: the physics timestep (1 substep)
    # 20 s time limit / 0.02 s = 1000 control steps, the base default.
    # Measured max one-step obs error (float32): 7e-7 away from the wrist limit; 6.7e-4 (wrist
    # velocity) when the light arm hits the +-160 degree limit (held-action rollouts). In float64
    # MJX that error is 2.5e-7: it is float32 precision in the stiff limit constraint.
    step_tolerance = 2e-3
    target_size: float  # radius dm_control gives the target geom at each episode start

    def _setup(self):
        m = self.mj_model
        self._finger = obj_id(m, "geom", "finger")
        self._target_geom = obj_id(m, "geom", "target")
        self._finger_size = float(m.geom_size[self._finger, 0])

    def _initialize_episode(self, key, data):
        k_joints, k_angle, k_radius = jax.random.split(key, 3)
        qpos = randomizers.randomize_hinges_and_slides(self.mj_model, k_joints, data.qpos)
        angle = jax.random.uniform(k_angle, (), minval=0.0, maxval=2 * np.pi)
        radius = jax.random.uniform(
            k_radius, (), minval=_TARGET_RADIUS[0], maxval=_TARGET_RADIUS[1]
        )
        target = radius * jnp.stack([jnp.sin(angle), jnp.cos(angle)])
        return data.replace(qpos=qpos), {"target": target}

    def _to_target(self, data, info):
        # The target geom hangs from the world body, so its position is the model's geom_pos.
        return info["target"] - data.geom_xpos[self._finger, :2]

    def _get_obs(self, data, info):
        return collections.OrderedDict(
            position=data.qpos, to_target=self._to_target(data, info), velocity=data.qvel
        )

    def _get_reward(self, data, info):
        radii = self.target_size + self._finger_size
        return rewards.tolerance(jnp.linalg.norm(self._to_target(data, info)), (0.0, radii))

    def info_from_dm_control(self, dm_env):
        pos = dm_env.physics.named.model.geom_pos["target", :2]
        return {"target": jnp.asarray(pos, jnp.float32)}


class Easy(Reacher):
    task, target_size = "easy", 0.05


class Hard(Reacher):
    task, target_size = "hard", 0.015


TASKS = {"easy": Easy, "hard": Hard}
