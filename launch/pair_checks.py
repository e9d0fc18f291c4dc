"""The checks on launch/contact_pairs.py's list (OUT/<task>.json): its body neighbours, the
pairs the patch keeps besides the list (`--neighbours_only`, OUT/<task>_neighbours.json), and
the held-out misses: touches of pairs a list prunes on seeds it was not built from (the list
mode's own held-out check, and `--heldout_only`, OUT/<task>_heldout_<seeds>.json).

No flags here (launch/pair_rollouts.py says why): the modes take the flag values as arguments.
"""

import json
import os

import mujoco
import numpy as np
from absl import app

from launch.common import machine_info
from launch.pair_rollouts import (
    DOG,
    PATTERNS,
    POLICY_PATTERN,
    Domain,
    candidate_codes,
    geom_bodies,
    geom_names,
    load_policy,
    pair_code,
    parse_seeds,
    recording_models,
    rollouts,
    self_mask,
    write_json,
)


# ----- body neighbours -----
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
    # The text names the script that writes the file (its --neighbours_only); the committed
    # files carry it as is.
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


# ----- held-out misses -----
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


def miss_records(found: dict, m, sources: tuple[str, ...]) -> list[dict]:
    names = geom_names(m)
    out = []
    for (s, c), n in found.items():
        g1, g2 = divmod(c, m.ngeom)
        out.append({"geoms": sorted([names[g1], names[g2]]), "source": sources[s], "substeps": n})
    return sorted(out, key=lambda r: (r["geoms"], r["source"]))


def write_heldout_only(
    heldout_seeds: str,
    patterns,
    log,
    domain: Domain,
    *,
    steps: int,
    record_margin: float,
    policy_dir,
    out: str,
) -> None:
    """`--heldout_only`: held-out misses of the committed list and of that list with its body
    neighbours, on seeds the list was not built from (`heldout_seeds`, a-b or a,b,c);
    `policy_dir`: --policy."""
    heldout = parse_seeds(heldout_seeds)
    models = recording_models(record_margin, domain)
    m = models["dm"]
    is_self = self_mask(m, domain.root_body)
    list_file = f"{domain.name}.json"
    with open(os.path.join(out, list_file)) as f:
        built_from = json.load(f)
    used = parse_seeds(built_from["list"]["seeds"]) + parse_seeds(built_from["heldout"]["seeds"])
    if set(heldout) & set(used):
        raise app.UsageError(
            f"--heldout_seeds must avoid the seeds {list_file} used ({sorted(used)})"
        )
    listed = listed_mask(os.path.join(out, list_file), m)
    rules = {"listed": listed, "listed+neighbours": neighbour_pairs(listed, m, is_self)}
    found = {r: {"control_steps": 0, "pairs": {}} for r in rules}
    by_pattern = {r: dict.fromkeys(patterns, 0) for r in rules}

    def check(rows, n, pattern):
        for rule, keep in rules.items():
            new = misses(rows, keep, is_self, n, 0.0)
            add_misses(found[rule], new)
            by_pattern[rule][pattern] += new["control_steps"]

    policy = load_policy(policy_dir, domain)
    _, per_pattern, n_sub, _ = rollouts(
        heldout, patterns, steps, models, log, check, policy, domain
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
        "policy": policy_dir,
        "patterns": {p: {**PATTERNS, **POLICY_PATTERN}[p] for p in patterns},
        "seeds": heldout_seeds,
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
                "missed_pairs": miss_records(found[rule]["pairs"], m, tuple(models)),
            }
            for rule, keep in rules.items()
        ],
    }
    tag = "_policy" if patterns == ["policy"] else ""
    name = f"{domain.name}_heldout_{heldout_seeds.replace(',', '_')}{tag}.json"
    write_json(report, os.path.join(out, name))
    for r in report["rules"]:
        log(f"{r['rule']}: {r['self_pairs']} self pairs, touched when pruned in "
            f"{r['miss_control_steps']} of {report['control_steps']} control steps")  # fmt: skip
