"""Parity harness against dm_control (used by tests and launch/parity_report.py).

States come from dm_control rollouts with uniform random actions; each is copied whole into MJX
(`mjx.put_data`), so obs/reward functions are compared on exactly the same physics state.
"""

import copy
import dataclasses
import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs import dmc, jax_setup
from envs.dmc import flat_obs

# Rollout states the one-step checks start from; 0 is dm_control's reset state.
ONE_STEP_STARTS = (0, 5, 15)


@dataclasses.dataclass
class DMStep:
    data: mujoco.MjData  # full copy of dm_control's MjData after the step (or reset)
    obs: np.ndarray  # dm_control observation, flattened in key order
    reward: float
    action: np.ndarray  # our [-1, 1] action that led here (zeros at reset)
    info: dict  # our task info, read from the dm_control task


def dm_load(env, seed: int):
    return dmc.load(env.domain, env.task, seed)


def to_dm_action(env, action: np.ndarray) -> np.ndarray:
    lo, hi = (np.asarray(x) for x in env.ctrl_range)
    return lo + (action + 1.0) * 0.5 * (hi - lo)


def _snapshot(dm_env) -> mujoco.MjData:
    m, d = dm_env.physics.model.ptr, dm_env.physics.data.ptr
    out = mujoco.MjData(m)
    mujoco.mj_copyData(out, m, d)
    return out


def rollout(env, seed: int, steps: int):
    """A dm_control episode start plus `steps` random-action steps, as DMStep records."""
    dm_env = dm_load(env, seed)
    rng = np.random.default_rng(seed)
    ts = dm_env.reset()
    info = env.info_from_dm_control(dm_env)
    out = [
        DMStep(_snapshot(dm_env), flat_obs(ts.observation), 0.0, np.zeros(env.action_size), info)
    ]
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_size)
        ts = dm_env.step(to_dm_action(env, action))
        out.append(
            DMStep(
                _snapshot(dm_env),
                flat_obs(ts.observation),
                float(ts.reward or 0.0),
                action,
                env.info_from_dm_control(dm_env),
            )
        )
    return out


@functools.cache
def _other_layout(env):
    """(dm_control's layout model, our blank Data) where a patch changed the mass matrix's layout
    (opt.jacobian: sparse or dense), else None; once per env."""
    m = env.mj_model
    dm_jacobian = mujoco.MjModel.from_xml_string(*type(env).model_xml()).opt.jacobian
    as_dm = copy.copy(m)
    as_dm.opt.jacobian = dm_jacobian
    if mujoco.mj_isSparse(as_dm) == mujoco.mj_isSparse(m):
        return None
    return as_dm, mjx.make_data(m)


def to_mjx(env, mj_data: mujoco.MjData) -> mjx.Data:
    """dm_control's MjData as our model's mjx.Data. Where a patch changes the mass matrix's layout
    (opt.jacobian), the data is read in dm_control's layout and the layout's own arrays (mass
    matrix and its factor) come from a blank Data of ours: every step computes them before use,
    and no observation reads them."""
    other = _other_layout(env)
    if other is None:
        return mjx.put_data(env.mj_model, mj_data)
    as_dm, blank = other
    keep = lambda x, b: x if np.shape(x) == np.shape(b) else b
    return jax.tree.map(keep, mjx.put_data(as_dm, mj_data), blank)


def obs_and_reward(env, rec: DMStep):
    """Our (flat obs, reward) on dm_control's exact state."""
    obs, reward = _jit_obs_and_reward(env)(to_mjx(env, rec.data), rec.info)
    return np.asarray(obs), float(reward)


@functools.cache
def _jit_obs_and_reward(env):
    # One compile per task: run op by op, the obs of some tasks (escape's rangefinders over the
    # terrain) are slow per state (figures: results/perf_changes.md, "parity.py").
    def obs_and_reward(data, info):
        return env.flatten_obs(env.observation(data, info)), env.reward(data, info)

    return jax_setup.jit_single_env(obs_and_reward)


def step_from(env, rec: DMStep, action: np.ndarray, n: int = 1):
    """Our state after n control steps from dm_control's state with the same action(s)."""
    data = to_mjx(env, rec.data)
    actions = np.broadcast_to(action, (n, env.action_size)) if np.ndim(action) == 1 else action
    step = _jit_step(env)
    obs = []
    for a in actions:
        data = step(data, jnp.asarray(a, jnp.float32), rec.info)
        obs.append(np.asarray(env.flatten_obs(env.observation(data, rec.info))))
    return data, np.stack(obs)


@functools.cache
def _jit_step(env):
    return jax_setup.jit_single_env(env.physics_step)


def step_tolerance(env, start: int) -> float:
    """The task's one-step tolerance from rollout state `start` (0: the reset state)."""
    if start == 0 and env.reset_step_tolerance is not None:
        return env.reset_step_tolerance
    return env.step_tolerance


def one_step_error(env, recs, start: int) -> float:
    """Max |obs difference| one control step after dm_control's state `recs[start]`."""
    _, obs = step_from(env, recs[start], recs[start + 1].action)
    return float(np.max(np.abs(obs[0] - recs[start + 1].obs)))
