"""Which of an agent's geom pairs ever touch: rollouts of the real dm_control task (native MuJoCo).

    python -m launch.contact_pairs --seeds 0-47 --heldout_seeds 1000-1001  # the dog
    python -m launch.contact_pairs --task humanoid --seeds 0-47 --heldout_seeds 1000-1001

MJX has no broad phase: it runs narrow-phase collision on every candidate geom pair at every
physics step (5,557 for the dog), so pruning pairs that never touch is the way to a cheap step.
This script builds the list of an agent's self-contact pairs (both geoms in the subtree of the
agent's root body, `Domain.root_body`) that do touch, from dm_control episodes under several
action patterns (`PATTERNS`), and checks it on held-out seeds. Pairs with a geom off the agent
(the floor, terrain, walls, a ball or boxes) are not listed: the patch (envs/self_pairs.py)
keeps every one of them. `--task` picks the agent (`DOMAINS`: the task rolled out and the models).

At every physics substep (dm_control's own stepping, so the trajectory is dm_control's bit for
bit) the configuration is collided in the domain's native models (`Domain.sources`), each with
every geom margin set to `--record_margin`, so each contact carries the pair's signed distance:
- `dm`: dm_control's own model: which pairs really touch;
- `ours` where the MJX model changes geometry (the dog: `dog_ellipsoids_to_capsules`, whose
  capsules bulge past the ellipsoids in places, up to 16 mm at the torso, so a pair can touch
  there and not in dm_control; quadruped_escape: its convex-mesh torso and eyes).
All are built from the same MJCF (same geom ids; names are checked equal). A pair is listed when
it touched (signed distance < 0) in any model at any substep, or came within
`--neighbour_margin` of touching (a safety band for states the rollouts missed).
Writes OUT/<task>.json (the list with per-pair counts, the held-out misses), OUT/<task>.md, and
OUT/<task>_neighbours.json: the list's body neighbours (`neighbour_sources`), which the patch
keeps too, since the dog's list alone missed touches on further held-out seeds
(dog_heldout_*.json).
"""

import dataclasses
import json
import os
import time

import mujoco
import numpy as np
from absl import app, flags

from envs import dmc, dog, humanoid, humanoid_cmu, manipulator, model_io, quadruped, registry
from envs import self_pairs, stacker
from envs._quadruped_escape import MESH_STAND_INS, QuadrupedEscape
from launch.common import machine_info

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Only when run as a script: tests import this module beside other launch scripts whose
    flags share names (seeds, out)."""
    flags.DEFINE_enum("task", "dog", list(DOMAINS), "whose self pairs (DOMAINS): the outputs' "
                      "stem, OUT/<task>.json")  # fmt: skip
    flags.DEFINE_string("seeds", "0-15", "dm_control seeds of the list's rollouts (a-b or a,b,c)")
    flags.DEFINE_string("heldout_seeds", "1000-1001", "seeds of the held-out check (disjoint)")
    flags.DEFINE_list("patterns", None, "action patterns (default: all of PATTERNS)")
    flags.DEFINE_integer("steps", 1000, "control steps per episode (dm_control's episode: 1000)")
    flags.DEFINE_float(
        "record_margin",
        0.02,
        "m; every geom's margin: pairs closer than twice this (MuJoCo adds the two geoms' "
        "margins) are recorded with distance",
    )
    flags.DEFINE_float("neighbour_margin", 0.005, "m; pairs this close are listed without touching")
    flags.DEFINE_list("thresholds", ["1", "2", "5", "10", "20", "50", "100"],
                      "held-out misses are also counted for lists of the pairs touched in at least "
                      "this many substeps (the trade-off table)")  # fmt: skip
    flags.DEFINE_string(
        "policy",
        None,
        "run folder of a trained policy of the --task domain: adds the `policy` "
        "pattern (its actions in its own task)",
    )
    flags.DEFINE_string("out", "data/contact_pairs", "output folder")
    flags.DEFINE_bool("heldout_only", False, "instead: check the list already in OUT/<task>.json "
                      "(and that list with its body neighbours, `neighbour_pairs`: the "
                      "list the patch applies) on "
                      "--heldout_seeds only (OUT/<task>_heldout_<seeds>.json)")  # fmt: skip
    flags.DEFINE_bool(
        "cull_check",
        False,
        "instead: on the held-out seeds, how MJX's caps would treat the task's MJX model (with "
        "and without its self-pair pruning): the bounding-sphere cull's rank of the touching "
        "pairs (max_geom_pairs), the most contacts per condim (max_contact_points); "
        "OUT/<task>_cull.json",
    )
    flags.DEFINE_bool(
        "neighbours_only",
        False,
        "instead: write OUT/<task>_neighbours.json, the body neighbours of the list in "
        "OUT/<task>.json (no rollouts)",
    )


_DM = ("dm", (), "dm_control's model (`dm`)")


@dataclasses.dataclass(frozen=True)
class Domain:
    """One agent whose self pairs are listed: the dm_control task rolled out, which geoms are the
    agent, and the native models each substep's configuration is collided in."""

    name: str  # --task, and the stem of the output files
    env: type  # our task class: dm_control's (domain, task) and the MJCF (model_xml)
    root_body: str  # the agent: the geoms in this body's subtree (envs/self_pairs.py)
    agent: str  # what the reports call the agent
    others: str  # the geoms off the agent, whose pairs the patch keeps (report text)
    # (source, patches on dm_control's model, what the report says it is); `dm` first.
    sources: tuple = (_DM,)
    title: str = ""  # the markdown report's heading (default: "<agent> contact pairs")


_OURS = "the geometry MJX collides"
# Every task of a domain shares the agent; the task rolled out is the one whose floor is largest
# (planes collide unbounded), or the one whose MJX model changes the agent's geometry.
DOMAINS = {
    d.name: d
    for d in (
        Domain(
            "dog", dog.DogRun, "torso", "dog", "the floor (and fetch's walls, ball, target)",
            sources=(_DM, ("ours", (dog.ELLIPSOIDS_TO_CAPSULES,),
                           f"ours with capsules (`ours`, {_OURS})")),
            title="Dog contact pairs (issue 16)",
        ),
        Domain("humanoid", humanoid.HumanoidRun, "torso", "humanoid", "the floor"),
        Domain("humanoid_CMU", humanoid_cmu.HumanoidCMURun, "root", "CMU humanoid", "the floor"),
        Domain("quadruped", quadruped.QuadrupedWalk, "torso", "quadruped", "the floor"),
        Domain(
            "quadruped_escape", QuadrupedEscape, "torso", "quadruped", "the floor and the terrain",
            sources=(_DM, ("ours", (MESH_STAND_INS,),
                           f"ours with mesh torso and eyes (`ours`, {_OURS})")),
        ),
        Domain("manipulator", manipulator.BringBall, "upper_arm", "manipulator arm",
               "the floor, walls, ball and target"),
        Domain("stacker", stacker.Stack4, "upper_arm", "stacker arm",
               "the floor, walls, boxes and target"),
    )
}  # fmt: skip
DOG = DOMAINS["dog"]

# name -> what the actions do; every pattern starts from dm_control's random initial state.
PATTERNS = {
    "uniform": "i.i.d. uniform actions in [-1, 1] every control step",
    "held": "uniform actions, each held for 5-100 control steps",
    "bang_bang": "every actuator at -1 or +1 at random, held for 5-100 steps (joint limits)",
    "sinusoid": "sin(2 pi f t + phase) per actuator, f log-uniform in 0.1-5 Hz",
    "zero": "zero torque: the body goes limp (a legged one falls onto the floor)",
    "same_bound": "all actuators at the same bound (+1 or -1), switched every 20-200 steps "
    "(the body curls up or stretches out: self-contact)",
    "bound_noise": "all actuators near one bound (+-1 plus uniform noise of width 0.5), "
    "switched every 20-200 steps",
}
# Only with --policy RUN_DIR (not in the default patterns): a trained policy, closed loop.
POLICY_PATTERN = {
    "policy": "a trained policy (--policy, its stochastic actions: a0 ~ N(0, I)) in its own "
    "task, closed loop"
}


# ----- actions -----
def _hold_lengths(rng, steps: int, lo: int, hi: int) -> np.ndarray:
    """Segment index per control step, segments lo..hi steps long."""
    lengths = rng.integers(lo, hi + 1, size=steps // lo + 1)
    return np.repeat(np.arange(lengths.size), lengths)[:steps]


def pattern_actions(pattern: str, rng, nu: int, steps: int, dt: float) -> np.ndarray:
    """(steps, nu) actions in [-1, 1] of one episode under `pattern` (see PATTERNS)."""
    if pattern == "uniform":
        return rng.uniform(-1, 1, (steps, nu))
    if pattern in ("held", "bang_bang"):
        seg = _hold_lengths(rng, steps, 5, 100)
        values = rng.uniform(-1, 1, (seg[-1] + 1, nu))
        return (values if pattern == "held" else np.where(values < 0, -1.0, 1.0))[seg]
    if pattern == "sinusoid":
        freq = np.exp(rng.uniform(np.log(0.1), np.log(5.0), nu))
        phase = rng.uniform(0, 2 * np.pi, nu)
        t = np.arange(steps)[:, None] * dt
        return np.sin(2 * np.pi * freq * t + phase)
    if pattern == "zero":
        return np.zeros((steps, nu))
    if pattern in ("same_bound", "bound_noise"):
        seg = _hold_lengths(rng, steps, 20, 200)
        sign = rng.choice([-1.0, 1.0], seg[-1] + 1)[seg][:, None]
        if pattern == "same_bound":
            return np.broadcast_to(sign, (steps, nu)).copy()
        return np.clip(sign * (1 - rng.uniform(0, 0.5, (steps, nu))), -1, 1)
    raise ValueError(f"unknown pattern {pattern!r}; known: {sorted(PATTERNS)}")


def parse_seeds(text: str) -> list[int]:
    """'0-3' -> [0, 1, 2, 3]; '1,5' -> [1, 5]; parts may mix ('0-2,9')."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


# ----- models -----
def recording_models(margin: float, domain: Domain = DOG) -> dict:
    """{source: MjModel} for the domain's sources, geom margins set to `margin` (module doc)."""
    xml, assets = domain.env.model_xml()
    models = {s: model_io.build_model(xml, assets, patches) for s, patches, _ in domain.sources}
    names = [geom_names(m) for m in models.values()]
    if any(n != names[0] for n in names[1:]):
        raise RuntimeError(f"dm_control's and our {domain.name} models differ in their geoms")
    for m in models.values():
        m.geom_margin[:] = margin  # MuJoCo 3.17 adds the two geoms': pairs within 2 x margin
    return models


def geom_names(m: mujoco.MjModel) -> list[str]:
    return [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g) or f"geom{g}" for g in range(m.ngeom)]


def geom_bodies(m: mujoco.MjModel) -> list[str]:
    """The name of each geom's body."""
    return [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in m.geom_bodyid]


def pair_code(geom1, geom2, ngeom: int) -> np.ndarray:
    """One integer per unordered geom pair (smaller id first)."""
    lo, hi = np.minimum(geom1, geom2), np.maximum(geom1, geom2)
    return lo.astype(np.int64) * ngeom + hi


# ----- rollouts -----
@dataclasses.dataclass
class Rows:
    """Contacts within the record margin of one episode, one row per contact point."""

    source: list = dataclasses.field(default_factory=list)  # index into the models' sources
    substep: list = dataclasses.field(default_factory=list)  # physics substep of the episode
    code: list = dataclasses.field(default_factory=list)  # pair_code
    dist: list = dataclasses.field(default_factory=list)  # signed distance (m)

    def arrays(self):
        cat = lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)
        return (cat(self.source, np.int8), cat(self.substep, np.int64),
                cat(self.code, np.int64), cat(self.dist, np.float64))  # fmt: skip


def _collide(models, datas, qpos, substep: int, rows: Rows) -> None:
    for i, source in enumerate(models):
        m, d = models[source], datas[source]
        d.qpos[:] = qpos
        mujoco.mj_kinematics(m, d)  # collision reads only geom poses
        mujoco.mj_collision(m, d)
        n = d.ncon
        geom = d.contact.geom[:n]
        rows.source.append(np.full(n, i))
        rows.substep.append(np.full(n, substep))
        rows.code.append(pair_code(geom[:, 0], geom[:, 1], m.ngeom))
        rows.dist.append(d.contact.dist[:n].copy())


def run_episode(
    seed: int, pattern: str, steps: int, on_substep, policy=None, domain=DOG, on_reset=None
) -> tuple[int, int]:
    """One episode of the domain's dm_control task, on_substep(qpos, substep index) after every
    physics substep and on_reset(physics) after the reset; returns (control steps done, substeps
    per control step). Pattern `policy`: `policy` is (task name in the domain,
    act(observation dict) -> action in [-1, 1]).

    dm_control's physics.step(n) equals n calls of physics.step(1) (legacy stepping: mj_step2
    then mj_step1 each time), so stepping one substep at a time to record keeps its trajectory.
    """
    from dm_control.rl.control import PhysicsError

    task = policy[0] if pattern == "policy" else domain.env.task
    env = dmc.load(domain.env.domain, task, seed)
    physics, n_sub = env.physics, env._n_sub_steps
    count = [0]
    step_n = physics.step

    def recording_step(nstep=1):
        for _ in range(nstep):
            step_n(1)
            on_substep(physics.data.qpos, count[0])
            count[0] += 1

    physics.step = recording_step
    spec = env.action_spec()
    if pattern == "policy":
        actions = None
    else:
        rng = np.random.default_rng([seed, list(PATTERNS).index(pattern)])
        actions = pattern_actions(pattern, rng, spec.shape[0], steps, env.control_timestep())
    ts = env.reset()
    if on_reset is not None:
        on_reset(physics)
    done = 0
    for t in range(steps):
        a = np.asarray(policy[1](ts.observation)) if actions is None else actions[t]
        try:
            ts = env.step(spec.minimum + (a + 1) * 0.5 * (spec.maximum - spec.minimum))
        except PhysicsError:
            break  # a diverged state ends the episode, as in training
        done += 1
        if ts.last():
            break
    return done, n_sub


def copy_terrain(physics, models: dict) -> None:
    """The episode's height fields (quadruped_escape draws its terrain at reset) into `models`."""
    for m in models.values():
        m.hfield_data[:] = physics.model.hfield_data


def recorded_episode(
    seed, pattern, steps, models, policy=None, domain=DOG
) -> tuple[Rows, int, int]:
    """run_episode, colliding every substep's configuration in `models`: (rows, steps, n_sub)."""
    rows, datas = Rows(), {s: mujoco.MjData(m) for s, m in models.items()}
    done, n_sub = run_episode(
        seed, pattern, steps, lambda qpos, i: _collide(models, datas, qpos, i, rows), policy,
        domain, lambda physics: copy_terrain(physics, models),
    )  # fmt: skip
    return rows, done, n_sub


# ----- MJX's bounding-sphere cull (dog_mjx_contact_caps) -----
def cull_groups(m: mujoco.MjModel) -> dict:
    """{label: (n, 2) geom ids} of MJX's collision groups that its max_geom_pairs cull ranks."""
    from mujoco.mjx._src import collision_driver

    out = {}
    for key, pairs in collision_driver._geom_groups(m).items():
        if not set(key.types) & collision_driver._GEOM_NO_BROADPHASE:
            types = "-".join(mujoco.mjtGeom(int(t)).name[7:].lower() for t in key.types)
            out[f"{types} condim {key.condim}"] = np.array(pairs)[:, :2]
    return out


def cull_figures(m, d, groups: dict, out: dict) -> None:
    """Updates out[label] = [pairs whose bounding spheres overlap, worst rank of a touching pair
    by the cull's distance (1 = nearest), touching pairs] (maxima) for the state in d, collided."""
    n = d.ncon
    touching = set(pair_code(d.contact.geom[:n, 0], d.contact.geom[:n, 1], m.ngeom).tolist())
    for label, g in groups.items():
        dist = np.linalg.norm(d.geom_xpos[g[:, 0]] - d.geom_xpos[g[:, 1]], axis=1)
        dist -= m.geom_rbound[g[:, 0]] + m.geom_rbound[g[:, 1]]  # what MJX's top_k ranks
        touch = np.isin(pair_code(g[:, 0], g[:, 1], m.ngeom), list(touching))
        rank = np.argsort(np.argsort(dist)) + 1
        fig = out.setdefault(label, [0, 0, 0])
        fig[0] = max(fig[0], int((dist < 0).sum()))
        fig[1] = max(fig[1], int(rank[touch].max(initial=0)))
        fig[2] = max(fig[2], int(touch.sum()))


def contact_figures(d, out: dict) -> None:
    """Updates out[condim] = the most contacts of that condim in one state (d, collided): what
    MJX's max_contact_points (the deepest k per condim) must keep to be exact."""
    dims, counts = np.unique(d.contact.dim[: d.ncon], return_counts=True)
    for dim, n in zip(dims.tolist(), counts.tolist(), strict=True):
        out[f"condim {dim}"] = max(out.get(f"condim {dim}", 0), n)


def cull_check(seeds, patterns, steps: int, models: dict, log, domain=DOG) -> tuple[dict, dict]:
    """({model name: {group: cull_figures}}, {model name: {condim: contact_figures}}) over the
    episodes' substeps, per model (caps off)."""
    datas = {k: mujoco.MjData(m) for k, m in models.items()}
    groups = {k: cull_groups(m) for k, m in models.items()}
    out = {k: {} for k in models}
    contacts = {k: {} for k in models}

    def on_substep(qpos, _):
        for k, m in models.items():
            d = datas[k]
            d.qpos[:] = qpos
            mujoco.mj_kinematics(m, d)
            mujoco.mj_collision(m, d)
            cull_figures(m, d, groups[k], out[k])
            contact_figures(d, contacts[k])

    for seed in seeds:
        for pattern in patterns:
            done, _ = run_episode(
                seed, pattern, steps, on_substep, domain=domain,
                on_reset=lambda physics: copy_terrain(physics, models),
            )  # fmt: skip
            log(f"cull check: seed {seed} {pattern}: {done} steps")
    return out, contacts


# ----- statistics -----
def pair_stats(source, substep, code, dist) -> dict:
    """{(source, code): [touch substeps, min distance]} from contact rows; a pair's several
    contact points in one substep count once."""
    out = {}
    for s in np.unique(source):
        sel = source == s
        c, d, sub = code[sel], dist[sel], substep[sel]
        uniq, inv = np.unique(c, return_inverse=True)
        mind = np.full(uniq.size, np.inf)
        np.minimum.at(mind, inv, d)
        touch = d < 0
        touched = np.unique(np.stack([sub[touch], c[touch]], 1), axis=0)[:, 1]
        counts = dict(zip(*np.unique(touched, return_counts=True), strict=True))
        for u, md in zip(uniq, mind, strict=True):
            out[(int(s), int(u))] = [int(counts.get(u, 0)), float(md)]
    return out


def merge_stats(total: dict, new: dict) -> None:
    for key, (n, d) in new.items():
        old = total.setdefault(key, [0, np.inf])
        old[0] += n
        old[1] = min(old[1], d)


def self_mask(m: mujoco.MjModel, root_body: str = DOG.root_body) -> np.ndarray:
    """Bool per pair_code: both geoms on the agent (the subtree of `root_body`)."""
    on_agent = self_pairs.agent_geoms(m, root_body)
    return np.outer(on_agent, on_agent).ravel()


def touch_counts(stats: dict, size: int) -> np.ndarray:
    """Per pair_code: touch substeps, the larger of the sources' counts."""
    out = np.zeros(size, np.int64)
    for (_, c), (n, _) in stats.items():
        out[c] = max(out[c], n)
    return out


def min_dists(stats: dict, size: int) -> np.ndarray:
    """Per pair_code: the closest signed distance seen in any source (inf: never recorded)."""
    out = np.full(size, np.inf)
    for (_, c), (_, d) in stats.items():
        out[c] = min(out[c], d)
    return out


def pair_lists(stats: dict, is_self: np.ndarray, neighbour_margin: float, thresholds) -> dict:
    """{rule: bool mask over pair codes} of self pairs. 'listed' (the one applied): touched at
    least once in either source, or came within neighbour_margin; 'touched>=k': touched in at
    least k substeps (the smaller lists, for the trade-off against held-out misses)."""
    count, dist = touch_counts(stats, is_self.size), min_dists(stats, is_self.size)
    out = {"listed": is_self & ((count > 0) | (dist < neighbour_margin))}
    for k in thresholds:
        out[f"touched>={k}"] = is_self & (count >= k)
    return out


def candidate_codes(m: mujoco.MjModel) -> np.ndarray:
    """pair_codes of the candidate pairs MJX collides for `m`."""
    from mujoco.mjx._src import collision_driver

    return np.array([pair_code(g1, g2, m.ngeom) for g1, g2, _ in collision_driver.geom_pairs(m)])


def neighbour_sources(keep: np.ndarray, m: mujoco.MjModel, is_self: np.ndarray) -> dict:
    """{code: the kept pair's code it neighbours} for every self pair not in `keep` that is a body
    neighbour of a kept self pair (a, b): (a', b) or (a, b') where a' is an agent geom on a's
    body, its parent body or a child body (b' likewise). The source is the lowest such kept code.

    Why: a pair the rollouts never saw touch is most likely one whose geoms sit next to those of a
    pair that did (the next tail segment, the neighbouring tooth), as the held-out misses of the
    48-seed list were (data/contact_pairs/dog.md)."""
    on_agent = is_self.reshape(m.ngeom, m.ngeom).diagonal()  # (g, g): self iff g is on the agent
    parent = m.body_parentid
    by_body = {}
    for g in np.flatnonzero(on_agent):
        by_body.setdefault(int(m.geom_bodyid[g]), []).append(int(g))
    near = {}
    for g in np.flatnonzero(on_agent):
        b = int(m.geom_bodyid[g])
        bodies = {b, int(parent[b])} | {int(c) for c in np.flatnonzero(parent == b)}
        near[int(g)] = [h for body in bodies for h in by_body.get(body, [])]
    out = {}
    for code in np.flatnonzero(keep & is_self):
        g1, g2 = divmod(int(code), m.ngeom)
        for new in [pair_code(h, g2, m.ngeom) for h in near[g1]] + [
            pair_code(g1, h, m.ngeom) for h in near[g2]
        ]:
            new = int(new)
            if is_self[new] and not keep[new]:
                out.setdefault(new, int(code))
    return out


def neighbour_pairs(keep: np.ndarray, m: mujoco.MjModel, is_self: np.ndarray) -> np.ndarray:
    """`keep` plus its body neighbours (`neighbour_sources`), self pairs only."""
    out = keep & is_self
    out[list(neighbour_sources(keep, m, is_self))] = True
    return out


def neighbour_records(keep: np.ndarray, m: mujoco.MjModel, is_self: np.ndarray) -> list[dict]:
    """The candidate self pairs `neighbour_pairs` adds to `keep`, as reviewable records (geoms,
    bodies, the kept pair each neighbours), sorted by geom names. Only MuJoCo's candidates: an
    explicit pair bypasses its filters, so a filtered pair (parent-child, excluded) would collide
    in our model and never in dm_control's."""
    names, bodies = geom_names(m), geom_bodies(m)
    is_candidate = np.zeros(is_self.size, bool)
    is_candidate[candidate_codes(m)] = True
    out = []
    for code, source in neighbour_sources(keep, m, is_self).items():
        if not is_candidate[code]:
            continue
        g1, g2 = sorted(divmod(code, m.ngeom), key=lambda g: names[g])
        next_to = sorted(names[g] for g in divmod(source, m.ngeom))
        out.append(
            {
                "geoms": [names[g1], names[g2]],
                "bodies": [bodies[g1], bodies[g2]],
                "next_to": next_to,
            }
        )
    return sorted(out, key=lambda r: r["geoms"])


def neighbour_report(listed_file: str, m: mujoco.MjModel, domain: Domain = DOG) -> dict:
    """OUT/<task>_neighbours.json: the body neighbours of the pairs in `listed_file`
    (OUT/<task>.json)."""
    is_self = self_mask(m, domain.root_body)
    pairs = neighbour_records(listed_mask(listed_file, m), m, is_self)
    info = machine_info()
    listed = os.path.basename(listed_file)
    return {
        "what": f"{domain.agent} self pairs added to {listed}'s list as body neighbours of a "
        "listed pair (same, parent or child body; launch/contact_pairs.py neighbour_sources); "
        f"the patch {domain.name}_self_contact_pairs keeps {listed}'s pairs and these",
        "date": info["date"],
        "command": info["command"],
        "list": listed,
        "candidate_self_pairs": int(is_self[candidate_codes(m)].sum()),
        "pairs": pairs,
    }


def write_neighbours(out: str, m: mujoco.MjModel, domain: Domain = DOG) -> dict:
    report = neighbour_report(os.path.join(out, f"{domain.name}.json"), m, domain)
    write_json(report, os.path.join(out, f"{domain.name}_neighbours.json"))
    return report


def listed_mask(path: str, m: mujoco.MjModel) -> np.ndarray:
    """The committed list (OUT/<task>.json's `pairs`) as a bool mask over pair codes."""
    with open(path) as f:
        pairs = json.load(f)["pairs"]
    ids = {n: g for g, n in enumerate(geom_names(m))}
    keep = np.zeros(m.ngeom * m.ngeom, bool)
    for rec in pairs:
        keep[pair_code(ids[rec["geoms"][0]], ids[rec["geoms"][1]], m.ngeom)] = True
    return keep


def misses(rows, keep: np.ndarray, is_self: np.ndarray, n_sub: int, below: float) -> dict:
    """Self pairs not kept with signed distance < below, in one episode's rows: how many control
    steps had such a contact, and per (source, code) the substeps it occurred in."""
    source, substep, code, dist = rows
    hit = (dist < below) & is_self[code] & ~keep[code]
    per_pair = {}
    for s, c, _ in np.unique(np.stack([source[hit], code[hit], substep[hit]], 1), axis=0):
        per_pair[(int(s), int(c))] = per_pair.get((int(s), int(c)), 0) + 1
    return {"control_steps": int(np.unique(substep[hit] // n_sub).size), "pairs": per_pair}


def add_misses(total: dict, new: dict) -> None:
    total["control_steps"] += new["control_steps"]
    for k, v in new["pairs"].items():
        total["pairs"][k] = total["pairs"].get(k, 0) + v


# ----- report -----
def _pair_record(code: int, by_pattern: dict, total: dict, names, bodies, sources) -> dict:
    g1, g2 = divmod(code, len(names))
    a, b = sorted([(names[g1], bodies[g1]), (names[g2], bodies[g2])])
    rec = {"geoms": [a[0], b[0]], "bodies": [a[1], b[1]]}
    for i, s in enumerate(sources):
        n, d = total.get((i, code), [0, None])
        rec[f"touch_substeps_{s}"] = n
        rec[f"min_dist_{s}"] = None if d is None else round(d, 5)
    rec["touched_in"] = [p for p, st in by_pattern.items() if code in touched(st)]
    return rec


def pair_records(codes, by_pattern: dict, m, sources: tuple[str, ...]) -> list[dict]:
    """Reviewable records of `codes`, sorted by geom names: touch counts and closest distance
    per source, the patterns they touched in."""
    total, names, bodies = merged(by_pattern), geom_names(m), geom_bodies(m)
    recs = [_pair_record(c, by_pattern, total, names, bodies, sources) for c in codes]
    return sorted(recs, key=lambda r: r["geoms"])


def merged(by_pattern: dict) -> dict:
    total = {}
    for st in by_pattern.values():
        merge_stats(total, st)
    return total


def rollouts(seeds, patterns, steps, models, log, on_episode=None, policy=None, domain=DOG):
    """Runs every (seed, pattern) episode, seed by seed. Returns ({pattern: stats}, control steps
    per pattern, substeps per control step, [pairs touched up to each seed]);
    on_episode(rows arrays, substeps per control step, pattern) sees each episode."""
    stats = {p: {} for p in patterns}
    per_pattern, n_sub, growth = dict.fromkeys(patterns, 0), 3, []
    for seed in seeds:
        for pattern in patterns:
            t = time.time()
            rows, done, n_sub = recorded_episode(seed, pattern, steps, models, policy, domain)
            arrays = rows.arrays()
            merge_stats(stats[pattern], pair_stats(*arrays))
            if on_episode is not None:
                on_episode(arrays, n_sub, pattern)
            per_pattern[pattern] += done
            log(f"seed {seed} {pattern}: {done} steps, {time.time() - t:.1f} s")
        growth.append(set().union(*(touched(st) for st in stats.values())))
    return stats, per_pattern, n_sub, growth


def touched(stats: dict) -> set:
    """Codes of the pairs that touched in any source."""
    return {c for (_, c), (n, _) in stats.items() if n > 0}


def markdown(report: dict, domain: Domain = DOG) -> str:
    h, lst, agent = report["heldout"], report["list"], domain.agent
    models = " and in ".join(text for _, _, text in domain.sources)
    either = " in either" if len(domain.sources) > 1 else ""
    lines = [
        f"# {domain.title or agent[0].upper() + agent[1:] + ' contact pairs'}",
        "",
        f"Made {report['date']} by `{report['command']}` (data: `{domain.name}.json`).",
        "",
        f"Real dm_control {agent} (native MuJoCo), dm_control's own stepping; at every physics "
        "substep",
        f"the configuration is collided in {models}, margins {report['record_margin']} m.",
        f"A {agent} self pair is listed when it touched{either}, or came within "
        f"{report['neighbour_margin']} m.",
        f"Pairs with {domain.others} are not listed: the patch keeps all of them.",
        "",
        "| | seeds | control steps | substeps |",
        "|---|---|---|---|",
        f"| list | {lst['seeds']} | {lst['control_steps']} | {lst['substeps']} |",
        f"| held-out | {h['seeds']} | {h['control_steps']} | {h['substeps']} |",
        "",
        f"Candidate self pairs (MuJoCo's filters): {report['candidate_self_pairs']}; listed: "
        f"{len(report['pairs'])} ({report['listed_touched']} touched, the rest within the "
        "neighbour margin).",
        "",
        "Held-out: control steps in which a pair not on the list touched (signed distance < 0): "
        f"**{h['touch_misses']['control_steps']}** of {h['control_steps']}; came within "
        f"the neighbour margin: {h['near_misses']['control_steps']}.",
        "",
        "Action patterns (control steps in the list's rollouts):",
        "",
    ]
    for name, doc in report["patterns"].items():
        lines.append(f"- `{name}` ({lst['control_steps_per_pattern'][name]}): {doc}")
    lines += ["", "Held-out control steps with a touch of a pruned self pair, for smaller lists "
              "(pairs touched in at least k substeps of the list's rollouts):", "",
              "| rule | self pairs | " + " | ".join(report["patterns"]) + " | total |",
              "|---|---:|" + "---:|" * (len(report["patterns"]) + 1)]  # fmt: skip
    for r in h["tradeoff"]:
        cells = [str(r["miss_control_steps"][p]) for p in report["patterns"]]
        total = sum(r["miss_control_steps"].values())
        lines.append(f"| {r['rule']} | {r['self_pairs']} | {' | '.join(cells)} | {total} |")
    lines += ["", f"Self pairs touched after each list seed: "
              f"{lst['self_pairs_touched_after_each_seed']}."]  # fmt: skip
    if h["touch_misses"]["pairs"]:
        lines += ["", "Held-out touches of unlisted pairs (substeps):", ""]
        lines += [f"- {p['geoms'][0]} / {p['geoms'][1]} ({p['source']}): {p['substeps']}"
                  for p in h["touch_misses"]["pairs"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def render_json(obj, depth: int = 0) -> str:
    """JSON with every record of a list of dicts on one line (one pair per line in diffs)."""
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {render_json(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        return "[\n" + ",\n".join(inner + json.dumps(x) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def write_json(obj, path: str) -> None:
    """render_json(obj) to `path`, its folder made if missing."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(render_json(obj) + "\n")


def write_report(report: dict, out: str, domain: Domain = DOG) -> None:
    write_json(report, os.path.join(out, f"{domain.name}.json"))
    with open(os.path.join(out, f"{domain.name}.md"), "w") as f:
        f.write(markdown(report, domain))


def _miss_records(found: dict, m, sources: tuple[str, ...]) -> list[dict]:
    names = geom_names(m)
    out = []
    for (s, c), n in found.items():
        g1, g2 = divmod(c, m.ngeom)
        out.append({"geoms": sorted([names[g1], names[g2]]), "source": sources[s], "substeps": n})
    return sorted(out, key=lambda r: (r["geoms"], r["source"]))


def cull_models(domain: Domain) -> dict:
    """{name: native MjModel} of the task's MJX model without any contact caps, with and without
    its self-pair pruning (one model where the task has none)."""
    env = domain.env
    xml = env.model_xml()
    caps_off = tuple(p for p in env.patches if not p.name.endswith("contact_caps"))
    pruning = [p for p in caps_off if p.name.endswith("self_contact_pairs")]
    if not pruning:
        return {"as the task builds it": model_io.build_model(*xml, caps_off)}
    return {
        f"without {pruning[0].name}": model_io.build_model(
            *xml, tuple(p for p in caps_off if p not in pruning)
        ),
        f"with {pruning[0].name}": model_io.build_model(*xml, caps_off),
    }


def main_cull_check(heldout, patterns, log, domain: Domain = DOG) -> None:
    """What MJX's caps (max_geom_pairs, max_contact_points) would drop in the task's MJX models."""
    models = cull_models(domain)
    figures, contacts = cull_check(heldout, patterns, FLAGS.steps, models, log, domain)
    info = machine_info()
    report = {
        "what": "per MJX collision group that max_geom_pairs culls: maxima over every substep "
        "of [pairs whose bounding spheres overlap, worst rank of a touching pair by the cull's "
        "distance (1 = nearest), touching pairs]; the cull is exact while the rank <= the limit. "
        "active_contacts: per condim, the most contacts in one substep (native MuJoCo's "
        "colliders on the MJX model's geometry); max_contact_points is exact while >= it",
        "date": info["date"],
        "command": info["command"],
        "seeds": FLAGS.heldout_seeds,
        "steps_per_episode": FLAGS.steps,
        "patterns": patterns,
        "groups": figures,
        "active_contacts": contacts,
    }
    write_json(report, os.path.join(FLAGS.out, f"{domain.name}_cull.json"))
    log(json.dumps({"groups": figures, "active_contacts": contacts}, indent=1))


def load_policy(run_dir, domain: Domain = DOG):
    """(task, act) of a trained policy's run folder (a task of `domain`), or None without one."""
    if run_dir is None:
        return None
    from flowrl_mjx.runtime import run_config, policy_io

    task = run_config.load(run_dir).task
    cls = registry.get_class(task)
    if cls.domain != domain.env.domain:
        raise app.UsageError(
            f"--policy {run_dir} was trained on {task}, not a {domain.env.domain} task"
        )
    return cls.task, policy_io.load_policy(run_dir, deterministic=False)


def main_heldout_only(heldout, patterns, log, domain: Domain) -> None:
    """Held-out misses of the committed list and of that list with its body neighbours, on
    seeds the list was not built from."""
    models = recording_models(FLAGS.record_margin, domain)
    m = models["dm"]
    is_self = self_mask(m, domain.root_body)
    list_file = f"{domain.name}.json"
    with open(os.path.join(FLAGS.out, list_file)) as f:
        built_from = json.load(f)
    used = parse_seeds(built_from["list"]["seeds"]) + parse_seeds(built_from["heldout"]["seeds"])
    if set(heldout) & set(used):
        raise app.UsageError(
            f"--heldout_seeds must avoid the seeds {list_file} used ({sorted(used)})"
        )
    listed = listed_mask(os.path.join(FLAGS.out, list_file), m)
    rules = {"listed": listed, "listed+neighbours": neighbour_pairs(listed, m, is_self)}
    found = {r: {"control_steps": 0, "pairs": {}} for r in rules}
    by_pattern = {r: dict.fromkeys(patterns, 0) for r in rules}

    def check(rows, n, pattern):
        for rule, keep in rules.items():
            new = misses(rows, keep, is_self, n, 0.0)
            add_misses(found[rule], new)
            by_pattern[rule][pattern] += new["control_steps"]

    policy = load_policy(FLAGS.policy, domain)
    _, per_pattern, n_sub, _ = rollouts(
        heldout, patterns, FLAGS.steps, models, log, check, policy, domain
    )
    candidates = candidate_codes(m)
    info = machine_info()
    in_sources = "either source" if len(models) > 1 else "dm"
    report = {
        "what": f"held-out touches (signed distance < 0, {in_sources}) of self pairs each rule "
        "prunes, on seeds the list was not built from (see launch/contact_pairs.py)",
        "date": info["date"],
        "command": info["command"],
        "list": {"file": list_file, "seeds": built_from["list"]["seeds"]},
        "policy": FLAGS.policy,
        "patterns": {p: {**PATTERNS, **POLICY_PATTERN}[p] for p in patterns},
        "seeds": FLAGS.heldout_seeds,
        "control_steps_per_pattern": per_pattern,
        "control_steps": sum(per_pattern.values()),
        "substeps": sum(per_pattern.values()) * n_sub,
        "candidate_self_pairs": int(is_self[candidates].sum()),
        "rules": [
            {
                "rule": rule,
                "self_pairs": int((keep & is_self)[candidates].sum()),
                "miss_control_steps": found[rule]["control_steps"],
                "miss_control_steps_by_pattern": by_pattern[rule],
                "missed_pairs": _miss_records(found[rule]["pairs"], m, tuple(models)),
            }
            for rule, keep in rules.items()
        ],
    }
    tag = "_policy" if patterns == ["policy"] else ""
    name = f"{domain.name}_heldout_{FLAGS.heldout_seeds.replace(',', '_')}{tag}.json"
    write_json(report, os.path.join(FLAGS.out, name))
    for r in report["rules"]:
        log(f"{r['rule']}: {r['self_pairs']} self pairs, touched when pruned in "
            f"{r['miss_control_steps']} of {report['control_steps']} control steps")  # fmt: skip


def main(_):
    seeds, heldout = parse_seeds(FLAGS.seeds), parse_seeds(FLAGS.heldout_seeds)
    patterns = FLAGS.patterns or list(PATTERNS) + (["policy"] if FLAGS.policy else [])
    domain = DOMAINS[FLAGS.task]
    if "policy" in patterns and not FLAGS.policy:
        raise app.UsageError("the `policy` pattern needs --policy RUN_DIR")
    if FLAGS.heldout_only:
        main_heldout_only(heldout, patterns, lambda s: print(s, flush=True), domain)
        return
    if FLAGS.cull_check:
        main_cull_check(heldout, patterns, lambda s: print(s, flush=True), domain)
        return
    if FLAGS.neighbours_only:
        m = recording_models(FLAGS.record_margin, domain)["dm"]
        report = write_neighbours(FLAGS.out, m, domain)
        print(f"{len(report['pairs'])} neighbour pairs -> "
              f"{FLAGS.out}/{domain.name}_neighbours.json")  # fmt: skip
        return
    if set(seeds) & set(heldout):
        raise app.UsageError("--seeds and --heldout_seeds must be disjoint")
    models = recording_models(FLAGS.record_margin, domain)
    m, sources = models["dm"], tuple(models)
    is_self = self_mask(m, domain.root_body)
    log = lambda s: print(s, flush=True)

    policy = load_policy(FLAGS.policy, domain)
    by_pattern, per_pattern, n_sub, growth = rollouts(
        seeds, patterns, FLAGS.steps, models, log, policy=policy, domain=domain
    )
    stats = merged(by_pattern)
    thresholds = [int(k) for k in FLAGS.thresholds]
    lists = pair_lists(stats, is_self, FLAGS.neighbour_margin, thresholds)
    touch, near = {"control_steps": 0, "pairs": {}}, {"control_steps": 0, "pairs": {}}
    by_rule = {rule: dict.fromkeys(patterns, 0) for rule in lists}

    def check(rows, n, pattern):
        add_misses(touch, misses(rows, lists["listed"], is_self, n, 0.0))
        add_misses(near, misses(rows, lists["listed"], is_self, n, FLAGS.neighbour_margin))
        for rule, keep in lists.items():
            by_rule[rule][pattern] += misses(rows, keep, is_self, n, 0.0)["control_steps"]

    _, h_per_pattern, _, _ = rollouts(
        heldout, patterns, FLAGS.steps, models, log, check, policy, domain
    )
    listed = np.flatnonzero(lists["listed"])
    count = touch_counts(stats, is_self.size)

    candidates = candidate_codes(m)
    info = machine_info()
    report = {
        "what": f"dm_control {domain.agent} self-contact pairs that touch "
        "(see launch/contact_pairs.py)",
        "date": info["date"],
        "command": info["command"],
        "versions": {k: info["versions"][k] for k in ("mujoco", "dm_control")},
        "model": f"dm_control {domain.env.domain}, task {domain.env.task}; geom ids as in "
        "dm_control's model",
        "record_margin": FLAGS.record_margin,
        "neighbour_margin": FLAGS.neighbour_margin,
        "policy": FLAGS.policy,
        "patterns": {p: {**PATTERNS, **POLICY_PATTERN}[p] for p in patterns},
        "list": {
            "seeds": FLAGS.seeds,
            "steps_per_episode": FLAGS.steps,
            "control_steps_per_pattern": per_pattern,
            "control_steps": sum(per_pattern.values()),
            "substeps": sum(per_pattern.values()) * n_sub,
            "self_pairs_touched_after_each_seed": [
                int(sum(is_self[c] for c in seen)) for seen in growth
            ],
        },
        "candidate_pairs": len(candidates),
        "candidate_self_pairs": int(is_self[candidates].sum()),
        "listed_touched": int((count[listed] > 0).sum()),
        "pairs": pair_records(listed.tolist(), by_pattern, m, sources),
        "floor_pairs_touched": pair_records(  # every touched pair with a geom off the agent
            sorted(c for c in touched(stats) if not is_self[c]), by_pattern, m, sources
        ),
        "heldout": {
            "seeds": FLAGS.heldout_seeds,
            "control_steps_per_pattern": h_per_pattern,
            "control_steps": sum(h_per_pattern.values()),
            "substeps": sum(h_per_pattern.values()) * n_sub,
            "touch_misses": {
                "control_steps": touch["control_steps"],
                "pairs": _miss_records(touch["pairs"], m, sources),
            },
            "near_misses": {
                "control_steps": near["control_steps"],
                "pairs": _miss_records(near["pairs"], m, sources),
            },
            "tradeoff": [
                {
                    "rule": rule,
                    "self_pairs": int(lists[rule].sum()),
                    "miss_control_steps": by_rule[rule],
                }
                for rule in lists
            ],  # fmt: skip
        },
    }
    write_report(report, FLAGS.out, domain)
    write_neighbours(FLAGS.out, m, domain)
    log(f"listed {len(listed)} pairs; held-out touch misses in "
        f"{touch['control_steps']} control steps")  # fmt: skip


if __name__ == "__main__":
    define_flags()
    app.run(main)
