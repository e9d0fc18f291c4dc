"""Finger (dm_control.suite.finger): a two-link planar finger spins or turns a free hinged body.

spin: reward 1 while the body spins faster than 15 rad/s (negative direction). turn_easy/hard:
reward 1 while the body's tip lies inside a target sphere (radius 0.07 / 0.03) drawn per episode
on the tip's circle; dm_control moves the target site in the model, here it is info['target'].
All observations come from sensors, as in dm_control.
"""

import collections

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from envs import base, model_io, randomizers
from envs.named import obj_id, qvel_slice, sensor_slice

_CONTROL_TIMESTEP = 0.02  # dm_control's finger control timestep (2 physics steps of 0.01 s)
_SPIN_VELOCITY = 15.0  # rad/s: spinning faster than this (negative direction) earns reward 1
_SPIN_HINGE_DAMPING = 0.03  # dm_control's Spin sets the hinge damping to this at every episode
_XZ = np.array([0, 2])  # x and z components of a position


def _spin_damping(m: mujoco.MjModel) -> None:
    m.dof_damping[qvel_slice(m, "hinge")] = _SPIN_HINGE_DAMPING


SPIN_DAMPING = model_io.Patch(
    "finger_spin_hinge_damping",
    "dm_control's Spin task writes hinge damping 0.03 (model default 0.5) at each episode start; "
    "a constant, so it is baked into the model (same dynamics as dm_control's spin).",
    model=_spin_damping,
)


class Finger(base.DMCEnv):
    """Shared observations and the collision-free random initial pose."""

    domain = "finger"
    control_timestep = _CONTROL_TIMESTEP
    # 20 s time limit / 0.02 s = 1000 control steps, the base default.
    # Measured max one-step obs error: 1e-5 on uniform-random-action states (the test's); 5.6e-3
    # (hinge velocity) on held-action rollouts that press the tip on the spinner and the joints
    # on their limits. Of that, 1e-3 remains with MJX in float64 (its contact solution differs
    # from MuJoCo's) and the rest, like the 1.5e-3 at joint limits, is float32 solver precision.
    step_tolerance = 1e-2

    def _setup(self):
        m = self.mj_model
        self._sensor = {
            name: sensor_slice(m, name)
            for name in ("proximal", "distal", "proximal_velocity", "distal_velocity",
                         "hinge_velocity", "tip", "spinner", "touchtop", "touchbottom")
        }  # fmt: skip

    def _sense(self, data, *names):
        return jnp.concatenate([data.sensordata[self._sensor[n]] for n in names])

    def _random_pose(self, key, data):
        sample = lambda k, q: randomizers.randomize_hinges_and_slides(  # noqa: E731
            self.mj_model, k, q
        )
        data, failed = self.reject_penetration(key, data, sample)
        return data, {"reset_failures": failed.astype(jnp.int32)}

    def _tip_position(self, data):
        """(x, z) of the spinner's tip relative to its hinge."""
        return self._sense(data, "tip")[_XZ] - self._sense(data, "spinner")[_XZ]

    def _get_obs(self, data, info):
        position = jnp.concatenate(
            [self._sense(data, "proximal", "distal"), self._tip_position(data)]
        )
        return collections.OrderedDict(
            position=position,
            velocity=self._sense(data, "proximal_velocity", "distal_velocity", "hinge_velocity"),
            touch=jnp.log1p(self._sense(data, "touchtop", "touchbottom")),
        )

    def info_from_dm_control(self, dm_env):
        return {"reset_failures": jnp.zeros((), jnp.int32)}


class Spin(Finger):
    task = "spin"
    patches = (SPIN_DAMPING,)

    def _initialize_episode(self, key, data):
        return self._random_pose(key, data)

    def _get_reward(self, data, info):
        return (self._sense(data, "hinge_velocity")[0] <= -_SPIN_VELOCITY).astype(jnp.float32)


class Turn(Finger):
    """Target on the circle the spinner's tip sweeps, at a uniformly random angle."""

    target_radius: float

    def _setup(self):
        super()._setup()
        m = self.mj_model
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)  # the hinge anchor is static: any pose gives the same xanchor
        self._hinge_xz = jnp.asarray(d.xanchor[obj_id(m, "joint", "hinge")][_XZ], jnp.float32)
        self._tip_circle = float(m.geom_size[obj_id(m, "geom", "cap1")].sum())

    def _initialize_episode(self, key, data):
        k_angle, k_pose = jax.random.split(key)
        angle = jax.random.uniform(k_angle, (), minval=-np.pi, maxval=np.pi)
        target = self._hinge_xz + self._tip_circle * jnp.stack([jnp.sin(angle), jnp.cos(angle)])
        data, info = self._random_pose(k_pose, data)
        return data, dict(info, target=target)

    def _target_position(self, data, info):
        """(x, z) of the target relative to the spinner's hinge (the 'spinner' frame sensor)."""
        return info["target"] - self._sense(data, "spinner")[_XZ]

    def _dist_to_target(self, data, info):
        to_target = self._target_position(data, info) - self._tip_position(data)
        return jnp.linalg.norm(to_target) - self.target_radius

    def _get_obs(self, data, info):
        obs = super()._get_obs(data, info)
        obs["target_position"] = self._target_position(data, info)
        obs["dist_to_target"] = self._dist_to_target(data, info)[None]
        return obs

    def _get_reward(self, data, info):
        return (self._dist_to_target(data, info) <= 0).astype(jnp.float32)

    def info_from_dm_control(self, dm_env):
        target = dm_env.physics.named.model.site_pos["target", ["x", "z"]]
        return dict(super().info_from_dm_control(dm_env), target=jnp.asarray(target, jnp.float32))


class TurnEasy(Turn):
    task, target_radius = "turn_easy", 0.07


class TurnHard(Turn):
    task, target_radius = "turn_hard", 0.03


TASKS = {"spin": Spin, "turn_easy": TurnEasy, "turn_hard": TurnHard}
