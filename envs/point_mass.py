"""Point mass (dm_control.suite.point_mass): drive a planar point mass to a target at the origin.

Reward: reaching the target (1 inside it, decaying to 0.1 one target radius beyond) times a small
control penalty. In `hard`, each episode routes the two actuators along two random, non-parallel
unit directions (dm_control rewrites the fixed-tendon coefficients), unobserved by the agent.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, randomizers, rewards
from envs.named import obj_id

_MAX_PARALLEL = 0.9  # hard: |cos| between the two actuation directions must not exceed this
_DIRECTION_TRIES = 64  # hard: bounded redraws of the second direction (dm_control: unbounded)


class PointMassEasy(base.DMCEnv):
    """dm_control's PointMass task with fixed actuation; see PointMassHard."""

    domain, task = "point_mass", "easy"
    control_timestep = 0.02  # dm_control default: the physics timestep (1 substep)
    # 20 s time limit / 0.02 s = 1000 control steps, the base default.
    # Measured max one-step obs error (float32): 3e-8 away from the walls, 3.8e-6 (velocity) with
    # the mass pressed on a joint limit (held-action rollouts; float32 constraint solve).
    step_tolerance = 1e-5

    def _setup(self):
        m = self.mj_model
        self._mass = obj_id(m, "geom", "pointmass")
        self._target = obj_id(m, "geom", "target")
        self._target_size = float(m.geom_size[self._target, 0])

    def _initialize_episode(self, key, data):
        qpos = randomizers.randomize_hinges_and_slides(self.mj_model, key, data.qpos)
        return data.replace(qpos=qpos), {}

    def _get_obs(self, data, info):
        return collections.OrderedDict(position=data.qpos, velocity=data.qvel)

    def _get_reward(self, data, info):
        distance = jnp.linalg.norm(data.geom_xpos[self._target] - data.geom_xpos[self._mass])
        size = self._target_size
        near_target = rewards.tolerance(distance, (0.0, size), size)
        control = rewards.tolerance(data.ctrl, margin=1, value_at_margin=0, sigmoid="quadratic")
        return near_target * (jnp.mean(control) + 4) / 5


def _unit(key):
    v = jax.random.normal(key, (2,))
    return v / jnp.linalg.norm(v)


class PointMassHard(PointMassEasy):
    """Random actuation directions per episode, kept in info['directions'] (rows: dir1, dir2).

    dm_control sets tendon t_i = dir_i . (x, y); with motor gear g the generalised force is
    g * (u1 dir1 + u2 dir2). The model's identity tendons give g * u, so each step adds the
    difference as qfrc_applied (set before every control step: dm_control states carry zero);
    data.ctrl stays the agent's u, as in dm_control (the reward reads it).
    """

    task = "hard"

    def _setup(self):
        super()._setup()
        m = self.mj_model
        # control relies on ctrl == action (ctrlrange [-1, 1]) and on identity tendons.
        assert np.all(m.actuator_ctrlrange == [-1.0, 1.0])
        assert np.all(m.wrap_prm[:4] == [1.0, 0.0, 0.0, 1.0])
        # moment of actuator i on the (x, y) dofs: gear * identity coefficients of tendon i
        self._gear = jnp.asarray(m.actuator_gear[:, 0], jnp.float32)

    def _initialize_episode(self, key, data):
        key, k_dir1, k_dir2 = jax.random.split(key, 3)
        data, info = super()._initialize_episode(key, data)
        dir1 = _unit(k_dir1)

        def redraw(carry):
            key, _, tries = carry
            key, k = jax.random.split(key)
            return key, _unit(k), tries + 1

        def parallel(carry):
            _, dir2, tries = carry
            return (jnp.abs(jnp.dot(dir1, dir2)) > _MAX_PARALLEL) & (tries < _DIRECTION_TRIES)

        _, dir2, _ = jax.lax.while_loop(parallel, redraw, redraw((k_dir2, dir1, 0)))
        return data, dict(info, directions=jnp.stack([dir1, dir2]))

    def control(self, data, action, info):
        """Adds, as qfrc_applied, the random directions' force minus the identity tendons' one."""
        action = jnp.clip(action, -1.0, 1.0)  # ctrlrange is [-1, 1]: ctrl equals the action
        force = self._gear * action
        data = data.replace(qfrc_applied=force @ info["directions"] - force)
        return super().control(data, action, info)

    def info_from_dm_control(self, dm_env):
        prm = np.asarray(dm_env.physics.model.wrap_prm[:4], np.float32)
        return {"directions": jnp.asarray(prm.reshape(2, 2))}


TASKS = {"easy": PointMassEasy, "hard": PointMassHard}
