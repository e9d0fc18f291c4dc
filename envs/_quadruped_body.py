"""Quadruped (dm_control.suite.quadruped): what its four tasks share (envs/quadruped.py has them).

dm_control builds the model per task (`make_model`: floor size, walls and ball, terrain,
rangefinders). Episodes start from a random orientation at the lowest height, in 1 cm steps, where
nothing touches (dm_control's `_find_non_contacting_height`); here the plane distances at height 0
give that height directly, without a search.
"""

import collections
from typing import ClassVar

import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco.mjx._src import smooth

from envs import base, rewards, self_pairs
from envs.named import obj_id, sensor_slice

HEIGHT_STEP = 0.01  # m: dm_control raises the body in these steps until nothing touches
_ON_STEP = 1e-3  # fraction of a height step within which a body counts as exactly on it
_XMAT_ZZ = (2, 2)  # world-z component of a body's z axis (dm_control's xmat 'zz')
S = mujoco.mjtSensor  # sensor type enum


def _sensor_indices(m: mujoco.MjModel, types) -> np.ndarray:
    """sensordata indices of every sensor of the given types, in sensor order (as dm_control)."""
    ids = np.flatnonzero(np.isin(m.sensor_type, [int(t) for t in types]))
    return np.concatenate(
        [np.arange(m.sensor_adr[i], m.sensor_adr[i] + m.sensor_dim[i]) for i in ids]
    )


def upright_reward(zz, deviation_angle=0.0):
    """1 when the torso z axis is within `deviation_angle` degrees of vertical, 0 upside down."""
    deviation = float(np.cos(np.deg2rad(deviation_angle)))
    return rewards.tolerance(zz, (deviation, float("inf")), 1 + deviation, "linear", 0.0)


def _can_collide(m: mujoco.MjModel, g1: int, g2: int) -> bool:
    """MuJoCo's contype/conaffinity test (the bodies here are never parent and child)."""
    return bool(
        (m.geom_contype[g1] & m.geom_conaffinity[g2])
        or (m.geom_contype[g2] & m.geom_conaffinity[g1])
    )


def lowest_point(m: mujoco.MjModel, geoms, pos, mat, normal):
    """Signed height along unit `normal` of each geom's lowest point (its support in -normal).

    pos (n, 3), mat (n, 3, 3) are the geoms' world frames; the types are static per geom.
    """
    local = jnp.einsum("nij,ni->nj", mat, normal)  # the normal in each geom's frame
    size = m.geom_size[geoms]
    depth = []
    for i, g in enumerate(geoms):
        t, s, n = mujoco.mjtGeom(int(m.geom_type[g])), size[i], local[i]
        if t == mujoco.mjtGeom.mjGEOM_SPHERE:
            depth.append(s[0])
        elif t == mujoco.mjtGeom.mjGEOM_CAPSULE:
            depth.append(s[0] + s[1] * jnp.abs(n[2]))
        elif t == mujoco.mjtGeom.mjGEOM_CYLINDER:
            depth.append(s[1] * jnp.abs(n[2]) + s[0] * jnp.sqrt(jnp.maximum(1 - n[2] ** 2, 0.0)))
        elif t == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            depth.append(jnp.linalg.norm(s * n))
        elif t == mujoco.mjtGeom.mjGEOM_BOX:
            depth.append(jnp.sum(s * jnp.abs(n)))
        elif t == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = m.geom_dataid[g]
            adr, num = m.mesh_vertadr[mesh], m.mesh_vertnum[mesh]
            depth.append(-jnp.min(jnp.asarray(m.mesh_vert[adr : adr + num]) @ n))
        else:
            raise NotImplementedError(f"lowest_point: geom type {mujoco.mjtGeom(t)}")
    return jnp.sum(pos * normal, axis=1) - jnp.stack(depth)


SELF_CONTACT_PAIRS = self_pairs.self_pairs_patch(
    "quadruped_self_contact_pairs",
    "torso",
    self_pairs.list_files("quadruped"),
    "MJX has no broad phase: it collides every candidate pair at every step and gives each its "
    "contact slots in the constraint system. None of the quadruped's 140 self pairs touched or "
    "came within 5 mm in real dm_control quadruped walk, 336k control steps, 48 seeds, 7 action "
    "patterns (random, held, bang-bang, sinusoids, zero torque, all actuators at one bound), nor "
    "in 28k held-out control steps of 4 other seeds (data/contact_pairs/quadruped*.json|md, "
    "launch/contact_pairs.py): the legs cannot reach each other or the torso. So every self pair "
    "is dropped and every pair with the floor (fetch: walls and ball too) stays: 159 -> 19 "
    "candidate pairs, 191 -> 35 contact slots (walk; fetch: 259 -> 119, 355 -> 199).",
)


class QuadrupedBase(base.DMCEnv):
    """Model, initial placement and the observations common to all quadruped tasks."""

    domain = "quadruped"
    patches = (SELF_CONTACT_PAIRS,)
    control_timestep = 0.02  # dm_control's _CONTROL_TIMESTEP: 4 physics steps of 5 ms
    model_kwargs: ClassVar[dict] = {}  # arguments of dm_control's quadruped.make_model

    @classmethod
    def model_xml(cls):
        try:
            from dm_control.suite import common, quadruped
        except ImportError as e:
            raise RuntimeError(
                "building the quadruped model needs dm_control (pip install dm_control==1.0.50), "
                "or pass model_file=<exported .mjb>"
            ) from e
        return quadruped.make_model(**cls.model_kwargs).decode(), common.ASSETS

    def _setup(self):
        m = self.mj_model
        self._torso = obj_id(m, "body", "torso")
        root = obj_id(m, "joint", "root")
        self._root_qpos = int(m.jnt_qposadr[root])
        hinges = np.flatnonzero(m.jnt_type == mujoco.mjtJoint.mjJNT_HINGE)
        self._hinge_qpos = np.asarray(m.jnt_qposadr[hinges])
        self._hinge_qvel = np.asarray(m.jnt_dofadr[hinges])
        self._velocimeter = sensor_slice(m, "velocimeter")
        self._imu = _sensor_indices(m, (S.mjSENS_GYRO, S.mjSENS_ACCELEROMETER))
        self._force_torque = _sensor_indices(m, (S.mjSENS_FORCE, S.mjSENS_TORQUE))
        self._plane_pairs(m)

    # ----- initial state -----
    def _plane_pairs(self, m):
        """Static (plane geom, other geom) pairs that can touch, with the planes' normal/offset."""
        planes = np.flatnonzero(m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE)
        assert np.all(m.geom_bodyid[planes] == 0)  # world planes: their frame is geom_pos/quat
        others = np.flatnonzero((m.geom_type != mujoco.mjtGeom.mjGEOM_PLANE) & (m.geom_bodyid > 0))
        pairs = [(p, g) for p in planes for g in others if _can_collide(m, p, g)]
        self._pair_plane, self._pair_geom = (np.array(v) for v in zip(*pairs, strict=True))
        normals = []
        for p in self._pair_plane:
            mat = np.zeros(9)
            mujoco.mju_quat2Mat(mat, m.geom_quat[p])
            normals.append(mat.reshape(3, 3)[:, 2])
        self._pair_normal = np.array(normals)
        self._pair_offset = np.sum(self._pair_normal * m.geom_pos[self._pair_plane], axis=1)

    def _place_clear(self, data, orientation, xy=(0.0, 0.0)):
        """Puts the root at (x, y, z): z the lowest multiple of 1 cm where no geom touches a plane.

        dm_control tries z = 0, 1 cm, 2 cm, ... until MuJoCo finds no contact. Every other contact
        is between body parts, fixed at the default joint angles (none there), so the first clear
        step follows from the plane distances at z = 0, which a vertical lift raises at rate n_z.
        """
        root = self._root_qpos

        def at_height(z):
            pose = jnp.concatenate([jnp.asarray(xy, jnp.float32), z[None], orientation])
            return data.replace(qpos=data.qpos.at[root : root + 7].set(pose))

        d = smooth.kinematics(self.mjx_model, at_height(jnp.zeros(())))
        g = self._pair_geom
        dist = lowest_point(self.mj_model, g, d.geom_xpos[g], d.geom_xmat[g], self._pair_normal)
        dist = dist - self._pair_offset
        margin = self.mj_model.geom_margin[g] + self.mj_model.geom_margin[self._pair_plane]
        # Steps needed for dist > margin. An upright body (fetch) lands exactly on a step: there
        # dm_control's float64 sum of 1 cm steps ends just above it (no contact), so round down.
        steps = jnp.ceil((margin - dist) / (self._pair_normal[:, 2] * HEIGHT_STEP) - _ON_STEP)
        return at_height(jnp.maximum(jnp.max(steps), 0.0) * HEIGHT_STEP)

    # ----- observations -----
    def _torso_frame(self, data):
        return data.xpos[self._torso], data.xmat[self._torso]

    def _common_obs(self, data):
        return collections.OrderedDict(
            egocentric_state=jnp.concatenate(
                [data.qpos[self._hinge_qpos], data.qvel[self._hinge_qvel], data.act]
            ),
            torso_velocity=data.sensordata[self._velocimeter],
            torso_upright=data.xmat[self._torso][_XMAT_ZZ],
            imu=data.sensordata[self._imu],
            force_torque=jnp.arcsinh(data.sensordata[self._force_torque]),
        )

    def _upright(self, data, deviation_angle=0.0):
        return upright_reward(data.xmat[self._torso][_XMAT_ZZ], deviation_angle)
