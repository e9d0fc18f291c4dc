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

The other modes, instead of the list: `--neighbours_only` rewrites OUT/<task>_neighbours.json
from the list and `--heldout_only` checks the committed list on fresh seeds (both in
launch/pair_checks.py); `--cull_check` measures what MJX's contact caps would drop
(launch/mjx_caps_check.py). The domains, patterns, rollouts and pair statistics that all modes
share are in launch/pair_rollouts.py; this file holds the flags and the list mode.
"""

import os

import numpy as np
from absl import app, flags

from launch.common import machine_info
from launch.mjx_caps_check import write_cull_check
from launch.pair_checks import add_misses, miss_records, misses, write_heldout_only
from launch.pair_checks import write_neighbours
from launch.pair_rollouts import (
    DOG,
    DOMAINS,
    PATTERNS,
    POLICY_PATTERN,
    Domain,
    candidate_codes,
    geom_bodies,
    geom_names,
    load_policy,
    merged,
    parse_seeds,
    recording_models,
    rollouts,
    self_mask,
    touched,
    write_json,
)

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


# ----- the list -----
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


# ----- its report -----
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


def write_report(report: dict, out: str, domain: Domain = DOG) -> None:
    write_json(report, os.path.join(out, f"{domain.name}.json"))
    with open(os.path.join(out, f"{domain.name}.md"), "w") as f:
        f.write(markdown(report, domain))


def main(_):
    seeds, heldout = parse_seeds(FLAGS.seeds), parse_seeds(FLAGS.heldout_seeds)
    patterns = FLAGS.patterns or list(PATTERNS) + (["policy"] if FLAGS.policy else [])
    domain = DOMAINS[FLAGS.task]
    log = lambda s: print(s, flush=True)
    if "policy" in patterns and not FLAGS.policy:
        raise app.UsageError("the `policy` pattern needs --policy RUN_DIR")
    if FLAGS.heldout_only:
        write_heldout_only(
            FLAGS.heldout_seeds,
            patterns,
            log,
            domain,
            steps=FLAGS.steps,
            record_margin=FLAGS.record_margin,
            policy_dir=FLAGS.policy,
            out=FLAGS.out,
        )
        return
    if FLAGS.cull_check:
        write_cull_check(
            FLAGS.heldout_seeds, patterns, log, domain, steps=FLAGS.steps, out=FLAGS.out
        )
        return
    if FLAGS.neighbours_only:
        m = recording_models(FLAGS.record_margin, domain)["dm"]
        report = write_neighbours(FLAGS.out, m, domain)
        print(f"{len(report['pairs'])} neighbour pairs -> "
              f"{FLAGS.out}/{domain.name}_neighbours.json")  # fmt: skip
        return
    if set(seeds) & set(heldout):
        raise app.UsageError("--seeds and --heldout_seeds must be disjoint")
    main_list(seeds, heldout, patterns, log, domain)


def main_list(seeds, heldout, patterns, log, domain: Domain) -> None:
    """The list mode: the list from `seeds`, its held-out misses on `heldout`, its body
    neighbours (module doc)."""
    models = recording_models(FLAGS.record_margin, domain)
    m, sources = models["dm"], tuple(models)
    is_self = self_mask(m, domain.root_body)

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
                "pairs": miss_records(touch["pairs"], m, sources),
            },
            "near_misses": {
                "control_steps": near["control_steps"],
                "pairs": miss_records(near["pairs"], m, sources),
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
