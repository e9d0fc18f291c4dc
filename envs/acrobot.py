"""Acrobot (dm_control.suite.acrobot): a two-link pendulum actuated at the elbow only.

Swing the tip up to a target 4 m above the ground (2 m above the shoulder). Dense reward: a
Gaussian of the tip-to-target distance outside the target sphere; sparse: 1 inside it.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, model_io, rewards
from envs.named import ids, obj_id, qpos_slice

_XZ, _ZZ = 2, 8  # indices of the 'xz' and 'zz' entries in a flattened row-major xmat
_DENSE_MARGIN = 1.0  # dense variant: distance beyond the target radius at which reward is 0.1


class Acrobot(base.DMCEnv):
    """dm_control's acrobot Balance task; subclasses fix `sparse`."""

    domain = "acrobot"
    control_timestep = 0.01  # dm_control default: the physics timestep (1 substep)
    # 10 s time limit / 0.01 s = 1000 control steps, the base default.
    patches = (model_io.DROP_ENERGY,)
    # Measured max one-step obs error (float32, RK4): 3.5e-7 on random-action states, 3.3e-6 on
    # held-action rollouts (faster whirling; float32 error grows with speed). No constraints.
    step_tolerance = 1e-5
    sparse: bool

    def _setup(self):
        m = self.mj_model
        self._arms = ids(m, "body", ("upper_arm", "lower_arm"))
        self._target = obj_id(m, "site", "target")
        self._tip = obj_id(m, "site", "tip")
        self._target_radius = float(m.site_size[self._target, 0])
        self._joints_q = np.r_[qpos_slice(m, "shoulder"), qpos_slice(m, "elbow")]

    def _initialize_episode(self, key, data):
        angles = jax.random.uniform(key, (2,), minval=-np.pi, maxval=np.pi)
        return data.replace(qpos=data.qpos.at[self._joints_q].set(angles)), {}

    def _get_obs(self, data, info):
        xmat = data.xmat[self._arms].reshape(-1, 9)
        # horizontal (xz) components of both arms' z axes, then their vertical (zz) components
        orientations = jnp.concatenate([xmat[:, _XZ], xmat[:, _ZZ]])
        return collections.OrderedDict(orientations=orientations, velocity=data.qvel)

    def _get_reward(self, data, info):
        distance = jnp.linalg.norm(data.site_xpos[self._target] - data.site_xpos[self._tip])
        margin = 0.0 if self.sparse else _DENSE_MARGIN
        return rewards.tolerance(distance, (0.0, self._target_radius), margin)


class Swingup(Acrobot):
    task, sparse = "swingup", False


class SwingupSparse(Acrobot):
    task, sparse = "swingup_sparse", True


TASKS = {"swingup": Swingup, "swingup_sparse": SwingupSparse}
