"""The shared core of launch/contact_pairs.py and its checks (launch/pair_checks.py,
launch/mjx_caps_check.py): which agents (`DOMAINS`), the action patterns (`PATTERNS`), the
recording models, the dm_control rollouts with every substep collided, the per-pair statistics,
and the JSON the outputs are written as.

No flags here: tests import it beside other launch scripts whose flags share names.
"""

import dataclasses
import json
import os
import time

import mujoco
import numpy as np
from absl import app

from envs import dmc, dog, humanoid, humanoid_cmu, manipulator, model_io, quadruped, registry
from envs import self_pairs, stacker
from envs._quadruped_escape import MESH_STAND_INS, QuadrupedEscape

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
        # The other manipulator tasks, for --cull_check: the peg and the receptacle (cup, slot)
        # bring their own geoms, so each task's contact caps are measured on its own rollouts.
        *(Domain(f"manipulator_{cls.task}", cls, "upper_arm", "manipulator arm",
                 "the floor, walls, prop, receptacle and target")
          for cls in (manipulator.BringPeg, manipulator.InsertBall, manipulator.InsertPeg)),
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


# ----- models -----
def recording_models(margin: float, domain: Domain = DOG) -> dict:
    """{source: MjModel} for the domain's sources, geom margins set to `margin`
    (launch/contact_pairs.py's doc: what each source is for, why the margin)."""
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


def self_mask(m: mujoco.MjModel, root_body: str = DOG.root_body) -> np.ndarray:
    """Bool per pair_code: both geoms on the agent (the subtree of `root_body`)."""
    on_agent = self_pairs.agent_geoms(m, root_body)
    return np.outer(on_agent, on_agent).ravel()


def candidate_codes(m: mujoco.MjModel) -> np.ndarray:
    """pair_codes of the candidate pairs MJX collides for `m`."""
    from mujoco.mjx._src import collision_driver

    return np.array([pair_code(g1, g2, m.ngeom) for g1, g2, _ in collision_driver.geom_pairs(m)])


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


# ----- statistics -----
def touched(stats: dict) -> set:
    """Codes of the pairs that touched in any source."""
    return {c for (_, c), (n, _) in stats.items() if n > 0}


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


def merged(by_pattern: dict) -> dict:
    total = {}
    for st in by_pattern.values():
        merge_stats(total, st)
    return total


# ----- output -----
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
