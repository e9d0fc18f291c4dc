"""How MJX's contact caps would treat a task's MJX model (`--cull_check` of
launch/contact_pairs.py, OUT/<task>_cull.json): over every substep of dm_control rollouts, the
bounding-sphere cull's rank of the touching pairs (what max_geom_pairs must keep) and the most
active contacts per condim (what max_contact_points must keep), with and without the task's
self-pair pruning. The caps patches (envs/model_io.py) cite its figures.

No flags here (launch/pair_rollouts.py says why): the mode takes the flag values as arguments.
"""

import json
import os

import mujoco
import numpy as np

from envs import model_io
from launch.common import machine_info
from launch.pair_rollouts import DOG, Domain, copy_terrain, pair_code, parse_seeds, run_episode
from launch.pair_rollouts import write_json


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


def write_cull_check(
    heldout_seeds: str, patterns, log, domain: Domain = DOG, *, steps: int, out: str
) -> None:
    """`--cull_check`: what MJX's caps (max_geom_pairs, max_contact_points) would drop in the
    task's MJX models, on the held-out seeds (`heldout_seeds`, a-b or a,b,c)."""
    models = cull_models(domain)
    figures, contacts = cull_check(parse_seeds(heldout_seeds), patterns, steps, models, log, domain)
    info = machine_info()
    report = {
        "what": "per MJX collision group that max_geom_pairs culls: maxima over every substep "
        "of [pairs whose bounding spheres overlap, worst rank of a touching pair by the cull's "
        "distance (1 = nearest), touching pairs]; the cull is exact while the rank <= the limit. "
        "active_contacts: per condim, the most contacts in one substep (native MuJoCo's "
        "colliders on the MJX model's geometry); max_contact_points is exact while >= it",
        "date": info["date"],
        "command": info["command"],
        "seeds": heldout_seeds,
        "steps_per_episode": steps,
        "patterns": patterns,
        "groups": figures,
        "active_contacts": contacts,
    }
    write_json(report, os.path.join(out, f"{domain.name}_cull.json"))
    log(json.dumps({"groups": figures, "active_contacts": contacts}, indent=1))
