"""Quadruped (dm_control.suite.quadruped): a 12-actuator four-legged body that walks, runs, fetches.

The shared model handling, initial placement and observations are in envs/_quadruped_body.py;
escape, with its per-episode terrain, in envs/_quadruped_escape.py.
"""

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from envs import rewards
from envs._quadruped_body import QuadrupedBase
from envs._quadruped_escape import QuadrupedEscape
from envs.named import obj_id, qpos_slice, qvel_slice

_WALK_SPEED = 0.5  # m/s: forward torso speed above which walk's move reward is 1
_RUN_SPEED = 5.0  # m/s: the same for run
_TIME_LIMIT = 20.0  # s: dm_control's episode length, also its floor half-size factor (walk, run)
_SPAWN_FRACTION = 0.9  # fetch: body and ball start within this fraction of the floor half-size
_BALL_DROP_HEIGHT = 2.0  # m: fetch's ball starts at this height ...
_BALL_SPEED = 5.0  # ... with horizontal velocity 5 * N(0, I) m/s


class _Move(QuadrupedBase):
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


class QuadrupedFetch(QuadrupedBase):
    """Reach the ball, then bring it to the target at the origin; arena with walls."""

    task = "fetch"
    model_kwargs: ClassVar[dict] = {"walls_and_ball": True}
    # Max |obs error| one control step after dm_control's state: 3.5e-3 over the 177 steps after
    # the first (3 seeds x 59; accelerometer/toe forces, as walk), but 0.078 from the reset state
    # (seed 0, the test's step 0; 0.99 for seed 1). That state is a float32 knife edge: upright,
    # all four toes lie exactly on the floor, 1e-16 m above it in dm_control's float64, so MuJoCo
    # lets the body fall for a substep while float32 MJX already finds four contacts holding it.
    step_tolerance = 5e-3
    reset_step_tolerance = 0.1

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


TASKS = {
    "walk": QuadrupedWalk,
    "run": QuadrupedRun,
    "escape": QuadrupedEscape,
    "fetch": QuadrupedFetch,
}
