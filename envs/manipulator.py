"""Manipulator (dm_control.suite.manipulator): a planar arm with a two-finger hand brings a ball
or a peg to a target pose (bring_*) or into a cup / slot at that pose (insert_*).

Per episode dm_control writes the target pose, and for insert tasks the receptacle pose, into the
*model* (body_pos / body_quat of static bodies). The MJX model is shared by all envs, so these poses
live in `info` and every physics call of the episode runs on `episode_model(info)`, the shared model
with those bodies moved: the receptacle is an obstacle, so the physics must see it where dm_control
puts it. `PlanarArm` holds what envs/stacker.py shares (same arm, hand and touch sensors).

Step parity (one control step from dm_control's state, random actions): median 4e-6, p99 5e-4 over
409 states with frequent contacts; up to 2e-2 (object velocity ~30) at a hard impact on the hand.
That one is MJX's, not float32 (the same in float64): MJX's closest_segment_point adds 1e-6 to
|ab|^2, which tilts capsule contact normals by ~1e-3 rad on the hand's 1.7 cm capsules (with the
exact point the error is 1e-4).
"""

import collections
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import math as mjx_math

from envs import base, model_io, physics, rewards
from envs.named import ids, obj_id, qpos_slice, qvel_slice, sensor_slice

# The arm's hinge joints in dm_control's order (arm_pos / arm_vel observations, initial angles).
ARM_JOINTS = ("arm_root", "arm_shoulder", "arm_elbow", "arm_wrist", "finger", "fingertip", "thumb",
              "thumbtip")  # fmt: skip
TOUCH_SENSORS = ("palm_touch", "finger_touch", "thumb_touch", "fingertip_touch", "thumbtip_touch")
_CLOSE = 0.01  # m: distance below which two sites count as close (reward)
# Initial object placement: in the hand, at the target, or uniform (with a random x velocity).
_INIT_PROBS = (0.1, 0.1, 0.8)
_IN_HAND, _IN_TARGET, _UNIFORM = 0, 1, 2
_TARGET_LO, _TARGET_HI = (-0.4, 0.1), (0.4, 0.4)  # m: target (x, z) uniform in this box
_OBJECT_LO, _OBJECT_HI = (-0.5, 0.0, 0.0), (0.5, 0.7, 2 * np.pi)  # uniform (x, z, angle)
_OBJECT_SPEED = 5.0  # m/s: uniform placement draws the x velocity from [-5, 5]
_X, _Z, _QW, _QY = 0, 2, 0, 2  # planar pose entries: xpos (x, z), xquat (w, y)
# Sites whose distances make the reward (dm_control's _ball_reward / _peg_reward), by use_peg.
_REWARD_SITES = {
    False: ("ball", "target_ball"),
    True: ("peg_grasp", "grasp", "peg_pinch", "pinch", "peg", "target_peg", "target_peg_tip",
           "peg_tip"),
}  # fmt: skip


class PlanarArm(base.DMCEnv):
    """The arm's observations and sampling; `episode_bodies` are static bodies whose pose is drawn
    per episode and kept in info as `<name>_pos`, `<name>_quat`."""

    control_timestep = 0.01  # dm_control's _CONTROL_TIMESTEP: 10 physics steps of 1 ms
    episode_bodies: ClassVar[tuple] = ()
    # Off: XLA:CPU's fusion emitters slow the batched steps of manipulator and stacker down
    # (figures: results/perf_changes.md, results/bench_envs_cpu{,_emitters_off}.md).
    cpu_fusion_emitters = False

    def _setup(self):
        m = self.mj_model
        joints = ids(m, "joint", ARM_JOINTS)
        self._arm_q, self._arm_v = m.jnt_qposadr[joints], m.jnt_dofadr[joints]
        limited = m.jnt_limited[joints].astype(bool)
        self._arm_lo = jnp.asarray(np.where(limited, m.jnt_range[joints, 0], -np.pi))
        self._arm_hi = jnp.asarray(np.where(limited, m.jnt_range[joints, 1], np.pi))
        self._finger, self._thumb = qpos_slice(m, "finger").start, qpos_slice(m, "thumb").start
        touch = [sensor_slice(m, s) for s in TOUCH_SENSORS]
        self._touch = np.concatenate([np.arange(t.start, t.stop) for t in touch])
        self._hand = obj_id(m, "body", "hand")
        self._grasp = obj_id(m, "site", "grasp")
        self._episode_ids = {b: obj_id(m, "body", b) for b in self.episode_bodies}

    def _sample_arm(self, key, qpos):
        """Arm angles uniform in their ranges ([-pi, pi] if unlimited); finger mirrors thumb."""
        angles = jax.random.uniform(key, self._arm_lo.shape, minval=self._arm_lo,
                                    maxval=self._arm_hi)  # fmt: skip
        qpos = qpos.at[self._arm_q].set(angles)
        return qpos.at[self._finger].set(qpos[self._thumb])

    def _arm_obs(self, data) -> collections.OrderedDict:
        q = data.qpos[self._arm_q]
        return collections.OrderedDict(
            arm_pos=jnp.stack([jnp.sin(q), jnp.cos(q)], axis=1),
            arm_vel=data.qvel[self._arm_v],
            touch=jnp.log1p(data.sensordata[self._touch]),
        )

    @staticmethod
    def _pose_2d(data, body):
        """(x, z, qw, qy) of a body: its pose in the arm's plane."""
        return jnp.stack([data.xpos[body, _X], data.xpos[body, _Z],
                          data.xquat[body, _QW], data.xquat[body, _QY]])  # fmt: skip

    # ----- per-episode body poses -----
    def episode_model(self, info) -> mjx.Model:
        """The shared model with this episode's body poses (dm_control writes them in the model)."""
        m = self.mjx_model
        pos, quat = m.body_pos, m.body_quat
        for name, body in self._episode_ids.items():
            pos = pos.at[body].set(info[f"{name}_pos"])
            quat = quat.at[body].set(info[f"{name}_quat"])
        return m.replace(body_pos=pos, body_quat=quat)

    def _episode_pose(self, name, x, z, angle=None) -> dict:
        """info entries: body `name` at (x, z), turned by `angle` about y (None: as built)."""
        body = self._episode_ids[name]
        pos = jnp.asarray(self.mj_model.body_pos[body])
        pos = pos.at[_X].set(x).at[_Z].set(z)
        quat = jnp.asarray(self.mj_model.body_quat[body])
        if angle is not None:  # dm_control overwrites (qw, qy) only
            quat = quat.at[_QW].set(jnp.cos(angle / 2)).at[_QY].set(jnp.sin(angle / 2))
        return {f"{name}_pos": pos, f"{name}_quat": quat}

    def _episode_site(self, info, name, site):
        """World position of a site of episode body `name` (a child of the world body)."""
        local = jnp.asarray(self.mj_model.site_pos[site])
        return info[f"{name}_pos"] + mjx_math.rotate(local, info[f"{name}_quat"])

    def reset(self, key):
        # base.reset, but the final forward pass sees this episode's body poses.
        data, info = self._initialize_episode(key, mjx.make_data(self.mjx_model))
        data = physics.forward(self.episode_model(info), data)
        return self._make_state(data, info, jnp.zeros(()), jnp.zeros(()))

    def control(self, data, action, info):
        # The base class's control on this episode's model.
        return self.episode_model(info), super().control(data, action, info)[1]

    def penetrating(self, data, info) -> jax.Array:
        """dm_control's `ncon > 0` after its forward pass, with this episode's body poses.

        Contacts need only positions and collision: much cheaper to compile than mjx.forward.
        """
        model = self.episode_model(info)
        return physics.num_contacts(mjx.collision(model, mjx.kinematics(model, data))) > 0

    def draw_until_free(self, key, data, sample) -> tuple[mjx.Data, dict]:
        """dm_control's loop: redraw `sample(key, data, qvel) -> (qpos, qvel, info)` until nothing
        penetrates (at most base.MAX_RESET_TRIES draws). Unlike base.reject_penetration, a draw
        may move episode bodies, and qvel carries over between draws as in dm_control.
        """

        def draw(carry):
            key, k = jax.random.split(carry["key"])
            qpos, qvel, info = sample(k, data, carry["qvel"])
            bad = self.penetrating(data.replace(qpos=qpos), info)
            return {"key": key, "qpos": qpos, "qvel": qvel, "info": info, "bad": bad,
                    "tries": carry["tries"] + 1}  # fmt: skip

        def more(carry):
            return carry["bad"] & (carry["tries"] < base.MAX_RESET_TRIES)

        # Start as a failed try 0, so that `draw` is compiled once (a first draw outside the loop
        # would double the program); info there only fixes the carry's structure.
        _, _, info = jax.eval_shape(sample, key, data, data.qvel)
        info = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info)
        start = {"key": key, "qpos": data.qpos, "qvel": data.qvel, "info": info,
                 "tries": jnp.zeros((), jnp.int32), "bad": jnp.ones((), bool)}  # fmt: skip
        out = jax.lax.while_loop(more, draw, start)
        info = dict(out["info"], reset_failures=out["bad"].astype(jnp.int32))
        return data.replace(qpos=out["qpos"], qvel=out["qvel"]), info

    def info_from_dm_control(self, dm_env):
        model = dm_env.physics.named.model
        info = {"reset_failures": np.zeros((), np.int32)}
        for name in self.episode_bodies:
            info[f"{name}_pos"] = np.array(model.body_pos[name])
            info[f"{name}_quat"] = np.array(model.body_quat[name])
        return info


class _Bring(PlanarArm):
    """dm_control's Bring task: the prop (ball or peg) to the target, or into the receptacle."""

    domain = "manipulator"
    use_peg: ClassVar[bool]
    insert: ClassVar[bool]
    # Measured max |obs error| after one control step over 25 random-action states: 3.6e-6 (bring
    # ball), 2.5e-4 (bring/insert peg), 1.3e-4 (insert ball); contacts: see the module doc.
    step_tolerance = 1e-3

    @classmethod
    def model_xml(cls):
        try:
            from dm_control.suite import manipulator
        except ImportError as e:
            raise RuntimeError("building the manipulator model needs dm_control, or pass "
                               "model_file=<exported .mjb>") from e  # fmt: skip
        xml, assets = manipulator.make_model(cls.use_peg, cls.insert)
        return xml.decode(), assets

    def _setup(self):
        self.prop = "peg" if self.use_peg else "ball"
        self.target = f"target_{self.prop}"
        receptacle = "slot" if self.use_peg else "cup"
        self.episode_bodies = (self.target, receptacle) if self.insert else (self.target,)
        super()._setup()
        m = self.mj_model
        self._prop = obj_id(m, "body", self.prop)
        # The prop's joints in dm_control's order ('xzy': slide x, slide z, hinge y).
        joints = [f"{self.prop}_{axis}" for axis in "xzy"]
        self._prop_q = np.array([qpos_slice(m, j).start for j in joints])
        self._prop_v = np.array([qvel_slice(m, j).start for j in joints])
        self._sites = {s: obj_id(m, "site", s) for s in _REWARD_SITES[self.use_peg]}
        target = self._episode_ids[self.target]
        self._target_sites = {s for s, i in self._sites.items() if m.site_bodyid[i] == target}

    def _sample(self, key, data, qvel):
        """One draw of dm_control's loop: arm, target (and receptacle), prop; qvel carries over."""
        k_arm, k_target, k_kind, k_prop = jax.random.split(key, 4)
        qpos = self._sample_arm(k_arm, data.qpos)
        max_angle = np.pi / 3 if self.insert else np.pi
        lo, hi = jnp.array(_TARGET_LO + (-max_angle,)), jnp.array(_TARGET_HI + (max_angle,))
        x, z, angle = jax.random.uniform(k_target, (3,), minval=lo, maxval=hi)
        info = {name: v for b in self.episode_bodies
                for name, v in self._episode_pose(b, x, z, angle).items()}  # fmt: skip
        # In the hand: at the grasp site, along the grasp direction (x axis (xx, zx) entries).
        hand = mjx.kinematics(self.mjx_model, data.replace(qpos=qpos))
        grasp_pos, grasp_mat = hand.site_xpos[self._grasp], hand.site_xmat[self._grasp]
        hand_angle = np.pi - jnp.arctan2(grasp_mat[2, 0], grasp_mat[0, 0])
        in_hand = jnp.stack([grasp_pos[_X], grasp_pos[_Z], hand_angle])
        k_pose, k_speed = jax.random.split(k_prop)
        uniform = jax.random.uniform(k_pose, (3,), minval=jnp.array(_OBJECT_LO),
                                     maxval=jnp.array(_OBJECT_HI))  # fmt: skip
        kind = jax.random.choice(k_kind, 3, p=jnp.array(_INIT_PROBS))
        pose = jnp.stack([in_hand, jnp.stack([x, z, angle]), uniform])[kind]
        speed = jax.random.uniform(k_speed, minval=-_OBJECT_SPEED, maxval=_OBJECT_SPEED)
        qvel = jnp.where(kind == _UNIFORM, qvel.at[self._prop_v[0]].set(speed), qvel)
        return qpos.at[self._prop_q].set(pose), qvel, info

    def _initialize_episode(self, key, data):
        return self.draw_until_free(key, data, self._sample)

    def _get_obs(self, data, info):
        obs = self._arm_obs(data)
        obs["hand_pos"] = self._pose_2d(data, self._hand)
        obs["object_pos"] = self._pose_2d(data, self._prop)
        obs["object_vel"] = data.qvel[self._prop_v]
        pos, quat = info[f"{self.target}_pos"], info[f"{self.target}_quat"]
        obs["target_pos"] = jnp.stack([pos[_X], pos[_Z], quat[_QW], quat[_QY]])
        return obs

    def _site(self, data, info, name):
        site = self._sites[name]
        if name in self._target_sites:  # the target's pose is in info, not in the shared model
            return self._episode_site(info, self.target, site)
        return data.site_xpos[site]

    def _close(self, data, info, a, b):
        distance = jnp.linalg.norm(self._site(data, info, a) - self._site(data, info, b))
        return rewards.tolerance(distance, (0.0, _CLOSE), 2 * _CLOSE)

    def _get_reward(self, data, info):
        if not self.use_peg:
            return self._close(data, info, "ball", "target_ball")
        grasping = (self._close(data, info, "peg_grasp", "grasp")
                    + self._close(data, info, "peg_pinch", "pinch")) / 2  # fmt: skip
        bringing = (self._close(data, info, "peg", "target_peg")
                    + self._close(data, info, "target_peg_tip", "peg_tip")) / 2  # fmt: skip
        return jnp.maximum(bringing, grasping / 3)


def _caps(cull_file_stem: str, cap: int, seen: int, slots: int) -> tuple:
    """The task's max_contact_points, from its own cull check (all its contacts are condim 3)."""
    text = f"at most {seen} contacts (all condim 3) were active at once: {slots} -> {cap} slots"
    return (model_io.measured_contact_caps(cull_file_stem, cap, text),)


# Each task's own rollouts (the prop and the receptacle bring their own geoms); caps leave >= 2.5x.
class BringBall(_Bring):
    task, use_peg, insert = "bring_ball", False, False
    patches = _caps("manipulator", 32, 10, 173)


class BringPeg(_Bring):
    task, use_peg, insert = "bring_peg", True, False
    patches = _caps("manipulator_bring_peg", 32, 12, 217)


class InsertBall(_Bring):
    task, use_peg, insert = "insert_ball", False, True
    patches = _caps("manipulator_insert_ball", 64, 20, 233)


class InsertPeg(_Bring):
    task, use_peg, insert = "insert_peg", True, True
    patches = _caps("manipulator_insert_peg", 32, 13, 304)


TASKS = {"bring_ball": BringBall, "bring_peg": BringPeg, "insert_ball": InsertBall,
         "insert_peg": InsertPeg}  # fmt: skip
