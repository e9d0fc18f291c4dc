"""Published CPU DMControl learning curves (data/dmc_reference_returns.csv) and the curve maths
the plots and tables share: mean over seeds, value at a step budget.

The CSV has one row per (source_repo, method, task, seed, env_step): `episode_return` is the
return of a full 1000-step episode, `env_step` counts environment (control) steps. The bundled
file keeps the permissively licensed sources only (data/README.md); `--reference_csv` may point
at a fuller file with the same columns (e.g. the one in ../shared/reference, which adds a
non-commercial source).
"""

import csv
import os

import numpy as np

COLUMNS = ("source_repo", "method", "task", "seed", "env_step", "episode_return")
# Short keys of the sources, as data/README.md lists them; an unknown repo is shown by its name.
SOURCE_KEYS = {
    "nicklashansen/tdmpc2": "T2",
    "naumix/BiggerRegularizedOptimistic": "BRO",
    "SonyResearch/simba": "S1",
    "dojeon-ai/SimbaV2": "V2",
    "facebookresearch/MRQ": "MRQ",
    "danijar/dreamerv3": "DV3",
    "nicklashansen/tdmpc": "T1",
}
# Evaluation protocol of each source where the source documents it (data/README.md): BRO's
# train_parallel.py runs deterministic eval episodes. The others do not say how they act at eval
# time, so nothing is claimed for them.
SOURCE_PROTOCOLS = {"BRO": "deterministic"}
# A run "reached" a budget when it logged a point within this fraction of it (the data's own
# grid is 100k; +-10% of 1M is the +-100k the reference README matches with).
REACH_TOLERANCE = 0.1


def default_path() -> str:
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, "data", "dmc_reference_returns.csv")


def load(path: str, tasks) -> dict:
    """{task: {"method [KEY]": {seed: (steps, returns)}}} for `tasks`; ValueError on a missing
    file, missing columns or a bad number (naming the line)."""
    tasks = set(tasks)
    out = {t: {} for t in tasks}
    try:
        f = open(path, newline="")
    except OSError as e:
        raise ValueError(f"cannot read reference file {path}: {e.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"reference file {path} lacks column(s) {', '.join(missing)}; "
                             f"expected {', '.join(COLUMNS)}")  # fmt: skip
        for line, row in enumerate(reader, start=2):
            if row["task"] not in tasks:
                continue
            try:
                step, ret = int(float(row["env_step"])), float(row["episode_return"])
            except (TypeError, ValueError):
                why = "env_step/episode_return is not a number"
                raise ValueError(f"{path}:{line}: {why}") from None
            label = f"{row['method']} [{SOURCE_KEYS.get(row['source_repo'], row['source_repo'])}]"
            out[row["task"]].setdefault(label, {}).setdefault(row["seed"], []).append((step, ret))
    return {t: {m: {s: _sorted(p) for s, p in seeds.items()} for m, seeds in methods.items()}
            for t, methods in out.items()}  # fmt: skip


def _sorted(points) -> tuple:
    points = sorted(points)
    return np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)


def mean_curve(seeds: dict) -> tuple:
    """(steps, mean, std, n) over seeds: every seed interpolated on the union of logged steps,
    within its own logged range only (no extrapolation)."""
    grid = np.unique(np.concatenate([s for s, _ in seeds.values()]))
    values = np.full((len(seeds), grid.size), np.nan)
    for i, (steps, returns) in enumerate(seeds.values()):
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        values[i, inside] = np.interp(grid[inside], steps, returns)
    n = np.sum(np.isfinite(values), axis=0)
    mean = np.nanmean(values, axis=0)
    std = np.sqrt(np.nanmean((values - mean) ** 2, axis=0))
    return grid, mean, std, n


def source_protocol(label: str):
    """'deterministic' / 'stochastic' for a "method [KEY]" label whose source documents its
    evaluation protocol, else None."""
    return SOURCE_PROTOCOLS.get(label.rpartition(" [")[2].rstrip("]"))


def protocol_note(label: str) -> str:
    """What a legend or table label says about the source's protocol."""
    documented = source_protocol(label)
    return f"{documented} eval" if documented else "protocol not documented"


def value_at(steps, values, target: float):
    """The value at the logged step nearest `target`, or None if none is within tolerance."""
    steps = np.asarray(steps, float)
    if steps.size == 0:
        return None
    i = int(np.argmin(np.abs(steps - target)))
    if abs(steps[i] - target) > REACH_TOLERANCE * target:
        return None
    return float(np.asarray(values, float)[i])


def seeds_at(seeds: dict, target: float) -> list:
    """Per-seed values at `target` (seeds that did not reach it are left out)."""
    vals = [value_at(steps, returns, target) for steps, returns in seeds.values()]
    return [v for v in vals if v is not None]
