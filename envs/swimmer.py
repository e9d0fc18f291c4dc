"""Swimmer (dm_control.suite.swimmer): an n-link planar swimmer in a viscous fluid reaches a target.

dm_control generates the model for n links (`get_model_and_assets(n)`); the suite has 6 and 15.
Contacts are switched off in the model, so the only environment forces are the inertia-box fluid
drag of `option density`, which MJX implements; MJX 3.17 still rejects the model for its
ellipsoid-box candidate pairs (head vs link boxes), hence fish's NO_COLLISION_PAIRS patch. The
target position is drawn per episode (dm_control writes it into the model): `info['target_pos']`.
"""

import collections
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, model_io, randomizers, rewards
from envs.fish import NO_COLLISION_PAIRS
from envs.named import obj_id, sensor_slice

_P_CLOSE_TARGET = 0.2  # probability that the target is drawn close to the origin
_CLOSE_BOX, _FAR_BOX = 0.3, 2.0  # m: target x, y uniform in [-box, box] (close / far)
_ROOT_QPOS = 3  # rootx, rooty, rootz: left out of the `joints` observation
_HEAD_SENSOR_DIM = 12  # nose_pos, target_pos, head_xaxis, head_yaxis precede the velocities
_VEL_COLUMNS = np.array([0, 1, 5])  # of each (velocimeter, gyro) row: vx, vy and wz (local)


class _Swimmer(base.DMCEnv):
    # Off: with XLA:CPU's fusion emitters the batched step runs orders of magnitude slower
    # (swimmer15 worst; figures: results/perf_changes.md,
    # results/bench_envs_cpu{,_emitters_off}.md).
    cpu_fusion_emitters = False
    domain = "swimmer"
    control_timestep = 0.03  # dm_control's _CONTROL_TIMESTEP: 15 physics steps of 2 ms
    patches = (NO_COLLISION_PAIRS,)
    n_links: ClassVar[int]
    # Max |obs error| after one control step from dm_control's state: see the task classes. It is
    # float32 rounding (in float64 MJX agrees to 1e-7 / 3e-5): the links' 10 g masses and 1e-6
    # armature make the mass matrix ill-conditioned, worse the longer the chain.

    @classmethod
    def model_xml(cls):
        xml, assets = model_io.dm_control_xml(cls.domain, cls.n_links)
        return (xml.decode() if isinstance(xml, bytes) else xml), assets

    def _setup(self):
        m = self.mj_model
        self._nose = obj_id(m, "geom", "nose")
        self._head = obj_id(m, "body", "head")
        self._target = obj_id(m, "geom", "target")
        self._target_size = float(m.geom_size[self._target, 0])
        self._target_z = float(m.geom_pos[self._target, 2])
        self._velocities = slice(sensor_slice(m, "head_vel").start, m.nsensordata)
        assert self._velocities.start == _HEAD_SENSOR_DIM  # dm_control reads sensordata[12:]

    def _initialize_episode(self, key, data):
        k_joints, k_close, k_target = jax.random.split(key, 3)
        # dm_control: randomize_limited_and_rotational_joints (only hinges here).
        qpos = randomizers.randomize_hinges_and_slides(self.mj_model, k_joints, data.qpos)
        box = jnp.where(jax.random.uniform(k_close) < _P_CLOSE_TARGET, _CLOSE_BOX, _FAR_BOX)
        xy = jax.random.uniform(k_target, (2,), minval=-1.0, maxval=1.0) * box
        target = jnp.concatenate([xy, jnp.full((1,), self._target_z)])
        return data.replace(qpos=qpos), {"target_pos": target}

    def _nose_to_target(self, data, info):
        """Nose-to-target vector in the head frame, x and y only (target is a world geom)."""
        delta = info["target_pos"] - data.geom_xpos[self._nose]
        return (delta @ data.xmat[self._head])[:2]

    def _get_obs(self, data, info):
        velocities = data.sensordata[self._velocities].reshape(-1, 6)[:, _VEL_COLUMNS]
        return collections.OrderedDict(
            joints=data.qpos[_ROOT_QPOS:],
            to_target=self._nose_to_target(data, info),
            body_velocities=velocities.ravel(),
        )

    def _get_reward(self, data, info):
        distance = jnp.linalg.norm(self._nose_to_target(data, info))
        size = self._target_size
        return rewards.tolerance(distance, (0.0, size), 5 * size, "long_tail")

    def info_from_dm_control(self, dm_env):
        return {"target_pos": np.array(dm_env.physics.named.model.geom_pos["target"])}


class Swimmer6(_Swimmer):
    task, n_links = "swimmer6", 6
    step_tolerance = 1e-4  # measured max over 25 random-action states: 4.1e-5 (head gyro)


class Swimmer15(_Swimmer):
    task, n_links = "swimmer15", 15
    step_tolerance = 2e-3  # measured max over 25 random-action states: 7.7e-4 (a link's gyro)


TASKS = {"swimmer6": Swimmer6, "swimmer15": Swimmer15}
