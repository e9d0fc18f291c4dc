"""One-step parity with dm_control over many seeds and start states, and the contacts behind it.

    python -m launch.parity_sweep --task dog_fetch --seeds 0,1,2,3,4,5 --starts 0
    python -m launch.parity_sweep --task quadruped_escape --seeds 0 --num_starts 30

The parity report and tests check a few fixed states (`envs.parity.ONE_STEP_STARTS`, seed 0);
this sweep is where a task's tolerance and its comment come from. Per (seed, start state): the max
|obs error| one control step after dm_control's state with dm_control's next action, the obs key it
lies in, and the penetrating contacts (dist < 0) each simulator finds over that step's substeps
(each along its own path), by geom pair: contact points summed over the substeps.
Writes OUT/<task>.json and OUT/<task>.md (default OUT: results/parity_sweep).
"""

import collections
import functools
import os

import mujoco
import numpy as np
from absl import app, flags
from mujoco import mjx

import envs
from envs import dmc, jax_setup, parity
from launch.common import header, machine_info, write_json_md

flags.DEFINE_string("task", "cheetah_run", "task name")
flags.DEFINE_list("seeds", ["0"], "dm_control seeds")
flags.DEFINE_list("starts", None, "rollout states to step from (0: reset); overrides --num_starts")
flags.DEFINE_integer("num_starts", 1, "step from states 0 .. num_starts-1")
flags.DEFINE_string("out", "results/parity_sweep", "output folder")
FLAGS = flags.FLAGS


def _pairs(m, geoms, dist) -> collections.Counter:
    """Penetrating contacts as a count per sorted (geom name, geom name) pair."""
    names = [
        tuple(
            sorted(mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, int(g)) or f"geom{g}" for g in p)
        )
        for p, d in zip(geoms, dist, strict=True)
        if d < 0
    ]
    return collections.Counter("/".join(n) for n in names)


def dm_episode(env, seed: int, first):
    """dm_control's env holding the rollout's episode: the same seed's first reset, which writes
    the episode's quantities into the model (escape's terrain, point_mass_hard's directions; an
    unreset model has a flat floor). `first` is the rollout's reset record, checked against."""
    dm_env = parity.dm_load(env, seed)
    obs = dmc.flat_obs(dm_env.reset().observation)
    if not np.array_equal(obs, first.obs):
        raise RuntimeError(f"{env.name} seed {seed}: a fresh reset is not the rollout's episode")
    return dm_env


def mujoco_contacts(env, dm_model, rec, action) -> collections.Counter:
    """Penetrating contacts MuJoCo finds over the substeps of one control step, on dm_control's
    own (unpatched) model of the episode (`dm_episode`), the one `rec.data` belongs to."""
    d = mujoco.MjData(dm_model)
    mujoco.mj_copyData(d, dm_model, rec.data)
    d.ctrl[:] = parity.to_dm_action(env, action)
    found = collections.Counter()
    for _ in range(env.n_substeps):
        mujoco.mj_step(dm_model, d)  # its collision runs on the state it starts from
        found += _pairs(dm_model, d.contact.geom[: d.ncon], d.contact.dist[: d.ncon])
    return found


def mjx_contacts(env, rec, action) -> collections.Counter:
    """The same for MJX along its own substeps, from the task's `control` (its episode's model
    and ctrl, as physics_step applies them)."""
    control, substep = _jit_control(env), _jit_substep()
    model, data = control(parity.to_mjx(env, rec.data), np.float32(action), rec.info)
    found = collections.Counter()
    for _ in range(env.n_substeps):
        data = substep(model, data)
        c = data._impl.contact
        found += _pairs(env.mj_model, np.asarray(c.geom), np.asarray(c.dist))
    return found


@functools.cache
def _jit_control(env):
    return jax_setup.jit_single_env(env.control)


@functools.cache
def _jit_substep():
    return jax_setup.jit_single_env(mjx.step)  # the model is an argument: one per task's shapes


def obs_keys(env, rec) -> list:
    """(key, end index in the flat obs) per obs key (our obs dict has dm_control's keys and
    order)."""
    obs = env.observation(parity.to_mjx(env, rec.data), rec.info)
    return list(zip(obs, np.cumsum([int(np.size(v)) for v in obs.values()]), strict=True))


def worst_key(keys, err: np.ndarray) -> str:
    """The obs key holding the largest error; `keys` from obs_keys."""
    return keys[int(np.searchsorted([end for _, end in keys], np.argmax(err), "right"))][0]


def measure(env, dm_model, recs, seed: int, start: int, keys) -> dict:
    """The error is of `parity.step_from`, the parity tests' program; the contacts come from
    a separate substep loop (same ops, one jitted call per substep)."""
    action = recs[start + 1].action
    _, obs = parity.step_from(env, recs[start], action)
    err = np.abs(obs[0] - recs[start + 1].obs)
    ours = mjx_contacts(env, recs[start], action)
    theirs = mujoco_contacts(env, dm_model, recs[start], action)
    return dict(seed=seed, start=start, error=float(err.max()), worst_key=worst_key(keys, err),
                tolerance=parity.step_tolerance(env, start),
                contacts_mujoco=sum(theirs.values()), contacts_mjx=sum(ours.values()),
                only_mujoco=dict(theirs - ours), only_mjx=dict(ours - theirs))  # fmt: skip


def markdown(rows, info) -> str:
    errs = np.array([r["error"] for r in rows])
    over = sum(r["error"] > r["tolerance"] for r in rows)
    lines = [f"# One-step parity sweep: {FLAGS.task}\n", header(info),
             f"{len(rows)} states: median error {np.median(errs):.2g}, max {errs.max():.2g}, "
             f"{over} over their tolerance. Contacts: penetrating (dist < 0) contact points summed "
             "over the step's substeps, each simulator along its own path; pairs one simulator "
             "finds more often than the other, with the surplus count.\n",
             "| seed | start | max obs error | tolerance | key | contacts MuJoCo / MJX "
             "| only MuJoCo | only MJX |", "|---:|---:|---:|---:|---|---|---|---|"]  # fmt: skip
    for r in rows:
        diff = [
            ", ".join(f"{k} x{v}" for k, v in r[s].items()) or "-"
            for s in ("only_mujoco", "only_mjx")
        ]
        lines.append(f"| {r['seed']} | {r['start']} | {r['error']:.2g} | {r['tolerance']:.2g} "
                     f"| {r['worst_key']} | {r['contacts_mujoco']} / {r['contacts_mjx']} "
                     f"| {diff[0]} | {diff[1]} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(_):
    env = envs.load(FLAGS.task)
    starts = [int(s) for s in FLAGS.starts] if FLAGS.starts else list(range(FLAGS.num_starts))
    rows = []
    for seed in (int(s) for s in FLAGS.seeds):
        recs = parity.rollout(env, seed, max(starts) + 1)
        dm_env = dm_episode(env, seed, recs[0])  # kept alive: its model backs dm_model
        dm_model = dm_env.physics.model.ptr
        keys = obs_keys(env, recs[0])
        for start in starts:
            rows.append(measure(env, dm_model, recs, seed, start, keys))
            print(rows[-1], flush=True)
    info = machine_info()
    write_json_md(
        os.path.join(FLAGS.out, FLAGS.task), dict(machine=info, rows=rows), markdown(rows, info)
    )


if __name__ == "__main__":
    app.run(main)
