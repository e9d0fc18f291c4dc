"""One-step parity with dm_control over many seeds and start states, and the contacts behind it.

    python -m launch.parity_sweep --task dog_fetch --seeds 0,1,2,3,4,5 --starts 0
    python -m launch.parity_sweep --task quadruped_escape --seeds 0 --num_starts 30

The parity report and tests check a few fixed states (`envs.parity.ONE_STEP_STARTS`, seed 0);
this sweep is where a task's tolerance and its comment come from. Per (seed, start state): the max
|obs error| one control step after dm_control's state with dm_control's next action, the obs key it
lies in, and the penetrating contacts (dist < 0) each simulator finds at that state, by geom pair.
Writes OUT/<task>.json and OUT/<task>.md (default OUT: results/parity_sweep).
"""

import collections
import functools
import json
import os

import mujoco
import numpy as np
from absl import app, flags
from mujoco import mjx

import envs
from envs import parity
from flowrl_mjx import jax_setup
from launch.common import header, machine_info

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


def mujoco_contacts(env, data: mujoco.MjData) -> collections.Counter:
    d = mujoco.MjData(env.mj_model)
    mujoco.mj_copyData(d, env.mj_model, data)
    mujoco.mj_forward(env.mj_model, d)
    return _pairs(env.mj_model, d.contact.geom[: d.ncon], d.contact.dist[: d.ncon])


def mjx_contacts(env, data: mujoco.MjData) -> collections.Counter:
    out = _jit_forward(env)(parity.to_mjx(env, data))
    c = out._impl.contact
    return _pairs(env.mj_model, np.asarray(c.geom), np.asarray(c.dist))


@functools.cache
def _jit_forward(env):
    return jax_setup.jit_single_env(functools.partial(mjx.forward, env.mjx_model))


def worst_key(env, rec, ours: np.ndarray) -> str:
    """The obs key holding the largest error (our obs dict has dm_control's keys and order)."""
    obs = env._get_obs(parity.to_mjx(env, rec.data), rec.info)
    sizes = np.cumsum([int(np.size(v)) for v in obs.values()])
    return list(obs)[int(np.searchsorted(sizes, np.argmax(np.abs(ours - rec.obs)), "right"))]


def measure(env, recs, seed: int, start: int) -> dict:
    _, obs = parity.step_from(env, recs[start], recs[start + 1].action)
    err = np.abs(obs[0] - recs[start + 1].obs)
    ours, theirs = mjx_contacts(env, recs[start].data), mujoco_contacts(env, recs[start].data)
    return dict(seed=seed, start=start, error=float(err.max()),
                worst_key=worst_key(env, recs[start + 1], obs[0]),
                tolerance=parity.step_tolerance(env, start),
                contacts_mujoco=sum(theirs.values()), contacts_mjx=sum(ours.values()),
                only_mujoco=dict(theirs - ours), only_mjx=dict(ours - theirs))  # fmt: skip


def markdown(rows, info) -> str:
    errs = np.array([r["error"] for r in rows])
    over = sum(r["error"] > r["tolerance"] for r in rows)
    lines = [f"# One-step parity sweep: {FLAGS.task}\n", header(info),
             f"{len(rows)} states: median error {np.median(errs):.2g}, max {errs.max():.2g}, "
             f"{over} over their tolerance. Contacts: penetrating (dist < 0) at the start state; "
             "pairs one simulator finds more often than the other, with the surplus count.\n",
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
        for start in starts:
            rows.append(measure(env, recs, seed, start))
            print(rows[-1], flush=True)
    info = machine_info()
    os.makedirs(FLAGS.out, exist_ok=True)
    base = os.path.join(FLAGS.out, FLAGS.task)
    with open(base + ".json", "w") as f:
        json.dump(dict(machine=info, rows=rows), f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(markdown(rows, info))


if __name__ == "__main__":
    app.run(main)
