"""Quadruped (dm_control.suite.quadruped): a 12-actuator four-legged body that walks, runs, fetches.

dm_control builds the model per task (`make_model`: floor size, walls and ball, terrain,
rangefinders). Episodes start from a random orientation at the lowest height, in 1 cm steps, where
nothing touches (dm_control's `_find_non_contacting_height`); here the plane distances at height 0
give that height directly, without a search.
"""

import collections
from typing import ClassVar

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco.mjx._src import collision_driver, smooth

from envs import _hfield, base, physics, rewards
from envs._quadruped_terrain import MESH_STAND_INS, Terrain
from envs.named import obj_id, qpos_slice, qvel_slice, sensor_slice

_WALK_SPEED = 0.5  # m/s: forward torso speed above which walk's move reward is 1
_RUN_SPEED = 5.0  # m/s: the same for run
_TIME_LIMIT = 20.0  # s: dm_control's episode length, also its floor half-size factor (walk, run)
_HEIGHT_STEP = 0.01  # m: dm_control raises the body in these steps until nothing touches
_ON_STEP = 1e-3  # fraction of a height step within which a body counts as exactly on it
_XMAT_ZZ = (2, 2)  # world-z component of a body's z axis (dm_control's xmat 'zz')
_SPAWN_FRACTION = 0.9  # fetch: body and ball start within this fraction of the floor half-size
_BALL_DROP_HEIGHT = 2.0  # m: fetch's ball starts at this height ...
_BALL_SPEED = 5.0  # ... with horizontal velocity 5 * N(0, I) m/s
_ESCAPE_UPRIGHT_ANGLE = 20.0  # deg: escape's upright term is 1 within this tilt
_MAX_LIFT_STEPS = 1000  # escape: bound on the 1 cm lift steps off the terrain (dm_control: 10000)
_S = mujoco.mjtSensor


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


class _Quadruped(base.DMCEnv):
    domain = "quadruped"
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
        self._imu = _sensor_indices(m, (_S.mjSENS_GYRO, _S.mjSENS_ACCELEROMETER))
        self._force_torque = _sensor_indices(m, (_S.mjSENS_FORCE, _S.mjSENS_TORQUE))
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
        steps = jnp.ceil((margin - dist) / (self._pair_normal[:, 2] * _HEIGHT_STEP) - _ON_STEP)
        return at_height(jnp.maximum(jnp.max(steps), 0.0) * _HEIGHT_STEP)

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


class _Move(_Quadruped):
    """Walk or run: forward torso speed times uprightness."""

    desired_speed: ClassVar[float]
    # Max |obs error| one control step after dm_control's state, measured on walk: 2.4e-4 on the
    # test's steps, 2.5e-3 over 300 random-action steps (3 seeds x 100); the outliers are toe
    # force/torque readings (acceleration stage, through the contact solver) at contact changes,
    # float32 MJX vs float64 MuJoCo.
    step_tolerance = 3e-3

    def _initialize_episode(self, key, data):
        orientation = jax.random.normal(key, (4,))
        data = self._place_clear(data, orientation / jnp.linalg.norm(orientation))
        return data, {}

    def _get_obs(self, data, info):
        return self._common_obs(data)

    def _get_reward(self, data, info):
        move = rewards.tolerance(
            data.sensordata[self._velocimeter][0],
            (self.desired_speed, float("inf")),
            self.desired_speed,
            "linear",
            0.5,
        )
        return self._upright(data) * move


class QuadrupedWalk(_Move):
    task = "walk"
    desired_speed = _WALK_SPEED
    model_kwargs: ClassVar[dict] = {"floor_size": _TIME_LIMIT * _WALK_SPEED}


class QuadrupedRun(_Move):
    task = "run"
    desired_speed = _RUN_SPEED
    model_kwargs: ClassVar[dict] = {"floor_size": _TIME_LIMIT * _RUN_SPEED}


class QuadrupedFetch(_Quadruped):
    """Reach the ball, then bring it to the target at the origin; arena with walls."""

    task = "fetch"
    model_kwargs: ClassVar[dict] = {"walls_and_ball": True}
    # Max |obs error| one control step after dm_control's state: 3.5e-3 over the 177 steps after
    # the first (3 seeds x 59; accelerometer/toe forces, as walk), but 0.078 from the reset state
    # (seed 0, the test's step 0; 0.99 for seed 1). That state is a float32 knife edge: upright,
    # all four toes lie exactly on the floor, 1e-16 m above it in dm_control's float64, so MuJoCo
    # lets the body fall for a substep while float32 MJX already finds four contacts holding it.
    step_tolerance = 0.1

    def _setup(self):
        super()._setup()
        m = self.mj_model
        self._ball = obj_id(m, "body", "ball")
        self._ball_qpos = qpos_slice(m, "ball_root").start
        self._ball_qvel = qvel_slice(m, "ball_root").start
        self._root_qvel = qvel_slice(m, "root").start
        self._workspace = obj_id(m, "site", "workspace")
        self._target = obj_id(m, "site", "target")
        floor_size = float(m.geom_size[obj_id(m, "geom", "floor"), 0])
        self._spawn_radius = _SPAWN_FRACTION * floor_size
        self._arena_radius = floor_size * np.sqrt(2)
        ball_radius = float(m.geom_size[obj_id(m, "geom", "ball"), 0])
        self._reach_radius = float(m.site_size[self._workspace, 0]) + ball_radius
        self._target_radius = float(m.site_size[self._target, 0])

    def _initialize_episode(self, key, data):
        k_azimuth, k_xy, k_ball, k_spin = jax.random.split(key, 4)
        azimuth = jax.random.uniform(k_azimuth, (), maxval=2 * np.pi)
        orientation = jnp.stack([jnp.cos(azimuth / 2), 0.0, 0.0, jnp.sin(azimuth / 2)])
        r = self._spawn_radius
        xy = jax.random.uniform(k_xy, (2,), minval=-r, maxval=r)
        data = self._place_clear(data, orientation, xy)  # the ball is still at its default pose
        ball_xy = jax.random.uniform(k_ball, (2,), minval=-r, maxval=r)
        b, v = self._ball_qpos, self._ball_qvel
        qpos = data.qpos.at[b : b + 3].set(jnp.append(ball_xy, _BALL_DROP_HEIGHT))
        qvel = data.qvel.at[v : v + 2].set(_BALL_SPEED * jax.random.normal(k_spin, (2,)))
        return data.replace(qpos=qpos, qvel=qvel), {}

    def _get_obs(self, data, info):
        pos, rot = self._torso_frame(data)
        ball_qvel = data.qvel[self._ball_qvel : self._ball_qvel + 6]
        root_qvel = data.qvel[self._root_qvel : self._root_qvel + 3]
        # Ball position and linear velocity relative to the torso, and its angular velocity,
        # each expressed in the torso frame (row vector times the torso rotation).
        ball = jnp.stack([data.xpos[self._ball] - pos, ball_qvel[:3] - root_qvel, ball_qvel[3:]])
        obs = self._common_obs(data)
        obs["ball_state"] = (ball @ rot).ravel()
        obs["target_position"] = (data.site_xpos[self._target] - pos) @ rot
        return obs

    def _get_reward(self, data, info):
        ball_xy = data.xpos[self._ball, :2]
        to_ball = jnp.linalg.norm(data.site_xpos[self._workspace, :2] - ball_xy)
        to_target = jnp.linalg.norm(data.site_xpos[self._target, :2] - ball_xy)
        reach = rewards.tolerance(to_ball, (0.0, self._reach_radius), self._arena_radius,
                                  "linear", 0.0)  # fmt: skip
        fetch = rewards.tolerance(to_target, (0.0, self._target_radius), self._arena_radius,
                                  "linear", 0.0)  # fmt: skip
        return self._upright(data) * reach * (0.5 + 0.5 * fetch)


class QuadrupedEscape(_Quadruped):
    """Get out of a random bowl-shaped terrain (drawn per episode: `info['terrain']`)."""

    task = "escape"
    model_kwargs: ClassVar[dict] = {"floor_size": 40, "terrain": True, "rangefinders": True}
    patches = (MESH_STAND_INS,)
    step_tolerance = 1e-2

    def _setup(self):
        super()._setup()
        m = self.mj_model
        self._hfield = _hfield.HField(m, obj_id(m, "geom", "terrain"))
        assert self._hfield.nrow == self._hfield.ncol  # dm_control's bowl assumes a square grid
        self._terrain = Terrain(self._hfield.nrow, float(self._hfield.size[0]))
        self._escape_radius = float(self._hfield.size[0])  # the terrain's half-size
        self._workspace = obj_id(m, "site", "workspace")
        rangefinders = np.flatnonzero(m.sensor_type == _S.mjSENS_RANGEFINDER)
        self._rf_adr = np.asarray(m.sensor_adr[rangefinders])
        self._rf_site = np.asarray(m.sensor_objid[rangefinders])

    def _initialize_episode(self, key, data):
        k_terrain, k_orientation = jax.random.split(key)
        terrain = self._terrain.sample(k_terrain)
        orientation = jax.random.normal(k_orientation, (4,))
        data = self._place_clear(data, orientation / jnp.linalg.norm(orientation))
        data = self._lift_off_terrain(data, _hfield.with_terrain(self.mjx_model, terrain))
        return data, {"terrain": terrain}

    def _lift_off_terrain(self, data, model):
        """dm_control's 1 cm steps up from the floor-clear height until nothing touches."""
        z = self._root_qpos + 2

        def touching(carry):
            d, n = carry
            c = collision_driver.collision(model, smooth.kinematics(model, d))._impl.contact
            return jnp.any(c.dist < c.includemargin) & (n < _MAX_LIFT_STEPS)

        def lift(carry):
            d, n = carry
            return d.replace(qpos=d.qpos.at[z].set(data.qpos[z] + (n + 1) * _HEIGHT_STEP)), n + 1

        return jax.lax.while_loop(touching, lift, (data, jnp.zeros((), jnp.int32)))[0]

    def physics_step(self, data, action, info):
        # As the base class, on a model holding this episode's terrain.
        action = jnp.clip(action, -1.0, 1.0)
        ctrl = self._ctrl_lo + (action + 1.0) * 0.5 * (self._ctrl_hi - self._ctrl_lo)
        model = _hfield.with_terrain(self.mjx_model, info["terrain"])
        return physics.step(model, data, ctrl, self.n_substeps)

    def _rangefinder(self, data, terrain):
        """dm_control's scaled readings: tanh(distance), 1 where the ray hits nothing."""
        pnt = data.site_xpos[self._rf_site]
        vec = data.site_xmat[self._rf_site][:, :, 2]
        # MJX's rangefinders see every geom but the terrain: take the nearer of the two.
        reading = data.sensordata[self._rf_adr]
        hit = jax.vmap(lambda p, v: self._hfield.ray(data, terrain, p, v))(pnt, vec)
        nearest = jnp.where((hit >= 0) & ((reading < 0) | (hit < reading)), hit, reading)
        return jnp.where(nearest == -1.0, 1.0, jnp.tanh(nearest))

    def _get_obs(self, data, info):
        pos, rot = self._torso_frame(data)
        obs = self._common_obs(data)
        obs["origin"] = -pos @ rot
        obs["rangefinder"] = self._rangefinder(data, info["terrain"])
        return obs

    def _get_reward(self, data, info):
        distance = jnp.linalg.norm(data.site_xpos[self._workspace])
        radius = self._escape_radius
        escape = rewards.tolerance(distance, (radius, float("inf")), radius, "linear", 0.0)
        return self._upright(data, _ESCAPE_UPRIGHT_ANGLE) * escape

    def info_from_dm_control(self, dm_env):
        return {"terrain": jnp.asarray(dm_env.physics.model.hfield_data, jnp.float32)}


TASKS = {
    "walk": QuadrupedWalk,
    "run": QuadrupedRun,
    "escape": QuadrupedEscape,
    "fetch": QuadrupedFetch,
}
