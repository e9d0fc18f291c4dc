"""python -m flowrl_mjx.plot RUN_DIR... [--reference] [--reference_csv PATH] [--out DIR]
    [--reference_methods sac,tdmpc2]

Learning curves of training runs: deterministic evaluation return (`eval/return_deterministic`)
against env steps and against wall-clock time, one PNG per task (`returns_<task>.png`), each run
labelled from its config.json (backend, seed). With --reference the published CPU DMControl curves
of the same task are drawn on the env-steps panel (per method: mean over seeds, band +-1 std over
seeds). `returns_table.md` gives the return at 100k, 500k and 1M env steps (the logged point
nearest the budget; blank when the run did not get within 10% of it), runs and references alike.
Needs matplotlib (`pip install "flowrl_mjx[plot]"`). Bad input: one line, exit code 2.
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from flowrl_mjx import reference

BUDGETS = (100_000, 500_000, 1_000_000)
METRIC = "eval/return_deterministic"


@dataclasses.dataclass
class Run:
    name: str  # the run dir's folder name
    task: str
    backend: str
    seed: int
    steps: np.ndarray  # env steps of the evaluated log points
    wall: np.ndarray  # wall-clock seconds at those points
    returns: np.ndarray  # deterministic eval return at those points

    @property
    def label(self) -> str:
        return f"{self.backend} s{self.seed} ({self.name})"


def load_run(path: str) -> Run:
    """A run dir's evaluated log points; ValueError (one line) when missing or malformed."""
    config, metrics = os.path.join(path, "config.json"), os.path.join(path, "metrics.jsonl")
    if not os.path.isdir(path):
        raise ValueError(f"run dir {path} does not exist")
    try:
        with open(config) as f:
            settings = json.load(f)
        task = settings["task"]
    except OSError as e:
        raise ValueError(f"run dir {path}: cannot read config.json ({e.strerror})") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"run dir {path}: malformed config.json (no object with 'task')") from None
    rows = _metric_rows(metrics)
    if not rows:
        raise ValueError(f"run dir {path}: no log point with {METRIC} in metrics.jsonl")
    col = lambda k: np.array([r[k] for r in rows], float)
    return Run(
        os.path.basename(os.path.normpath(path)),
        task,
        settings.get("backend", "mjx"),
        settings.get("seed", 0),
        col("env_steps"),
        col("wall_time"),
        col(METRIC),
    )


def _metric_rows(path: str) -> list:
    try:
        f = open(path)
    except OSError as e:
        raise ValueError(f"cannot read {path} ({e.strerror})") from None
    rows = []
    with f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                keep = METRIC in row and np.isfinite(row[METRIC])
                if keep and not all(np.isfinite(float(row[k])) for k in ("env_steps", "wall_time")):
                    raise ValueError
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise ValueError(f"{path}:{n}: malformed log line (need a JSON object with "
                                 "env_steps, wall_time)") from None  # fmt: skip
            if keep:
                rows.append(row)
    return rows


def _cell(value, n=None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if n is None else f"{value:.1f} (n={n})"


def table(runs: list, refs: dict) -> str:
    """Markdown: return at each budget, one row per run and per reference method."""
    head = ["task", "curve", *[f"{b // 1000}k" if b < 10**6 else f"{b // 10**6}M" for b in BUDGETS]]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(BUDGETS)]
    for task in sorted({r.task for r in runs}):
        for r in (r for r in runs if r.task == task):
            cells = [_cell(reference.value_at(r.steps, r.returns, b)) for b in BUDGETS]
            lines.append("| " + " | ".join([task, r.label, *cells]) + " |")
        for method, seeds in sorted(refs.get(task, {}).items()):
            vals = [reference.seeds_at(seeds, b) for b in BUDGETS]
            cells = [_cell(float(np.mean(v)), len(v)) if v else "" for v in vals]
            lines.append("| " + " | ".join([task, f"published {method}", *cells]) + " |")
    return "\n".join(lines) + "\n"


# Runs in strong colours, drawn over the published curves (tab20, thin, translucent bands).
RUN_COLORS = ("black", "crimson", "royalblue", "darkorange", "forestgreen", "purple")


def figure(task: str, runs: list, refs: dict, path: str) -> None:
    """Two panels (return vs env steps, vs wall-clock) written to `path` as PNG."""
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("plotting needs matplotlib: pip install 'flowrl_mjx[plot]'") from None
    fig = Figure(figsize=(14 if refs else 12, 5), layout="constrained")
    by_steps, by_wall = fig.subplots(1, 2)
    palette = colormaps["tab20"].colors
    for i, (method, seeds) in enumerate(sorted(refs.items())):
        steps, mean, std, _ = reference.mean_curve(seeds)
        color = palette[i % len(palette)]
        by_steps.plot(steps, mean, lw=1, color=color, label=f"{method} (n={len(seeds)})")
        by_steps.fill_between(steps, mean - std, mean + std, color=color, alpha=0.1, lw=0)
    ref_legend = by_steps.get_legend_handles_labels()
    hours = max(r.wall.max() for r in runs) > 7200
    for i, r in enumerate(runs):
        style = dict(lw=2.5, marker=".", color=RUN_COLORS[i % len(RUN_COLORS)], label=r.label)
        by_steps.plot(r.steps, r.returns, **style)
        by_wall.plot(r.wall / (3600 if hours else 60), r.returns, **style)
    by_steps.set(xlabel="env steps", ylabel="episode return (deterministic eval)", title=task)
    unit = "hours" if hours else "minutes"
    by_wall.set(xlabel=f"wall-clock ({unit})", title=f"{task}: wall-clock")
    by_wall.legend(fontsize=8, loc="best")
    for ax in (by_steps, by_wall):
        ax.grid(alpha=0.3)
    if refs:
        fig.legend(*ref_legend, loc="outside right upper", fontsize=7,
                   title="published (mean, band ±1 std over seeds)", title_fontsize=7)  # fmt: skip
    fig.savefig(path, dpi=110)


def plot_runs(run_dirs, out: str, reference_csv=None, methods=None) -> dict:
    """Writes returns_<task>.png per task and returns_table.md into `out`; returns
    {"figures": [...], "table": path, "markdown": text, "no_reference": [task, ...]}.
    reference_csv None: no references; methods: keep only these reference methods (by name)."""
    runs = [load_run(p) for p in run_dirs]
    tasks = sorted({r.task for r in runs})
    refs = reference.load(reference_csv, tasks) if reference_csv else {}
    if methods:
        keep = lambda label: label.split(" [")[0] in methods or label in methods
        refs = {t: {m: v for m, v in ms.items() if keep(m)} for t, ms in refs.items()}
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {out}: {e.strerror}") from None
    figures = []
    for task in tasks:
        path = os.path.join(out, f"returns_{task}.png")
        figure(task, [r for r in runs if r.task == task], refs.get(task, {}), path)
        figures.append(path)
    text = table(runs, refs)
    path = os.path.join(out, "returns_table.md")
    with open(path, "w") as f:
        f.write(f"Deterministic evaluation return at each env-step budget.\n\n{text}")
    missing = [t for t in tasks if reference_csv and not refs.get(t)]
    return dict(figures=figures, table=path, markdown=text, no_reference=missing)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m flowrl_mjx.plot", description=__doc__.split(
        "\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--reference", action="store_true", help="overlay published DMControl curves")
    p.add_argument(
        "--reference_csv",
        default=None,
        help="reference data (implies --reference; default: the bundled file)",
    )
    p.add_argument(
        "--reference_methods",
        default=None,
        help="comma-separated methods to draw: sac,tdmpc2 or 'sac [T2]' (default all)",
    )
    p.add_argument("--out", default="plots", help="output folder (default: plots)")
    args = p.parse_args(argv)
    csv_path = args.reference_csv or (reference.default_path() if args.reference else None)
    methods = args.reference_methods.split(",") if args.reference_methods else None
    try:
        result = plot_runs(args.run_dirs, args.out, csv_path, methods)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for task in result["no_reference"]:
        print(f"note: no reference curves for {task} in {csv_path}")
    print(result["markdown"], end="")
    print("wrote " + ", ".join(result["figures"] + [result["table"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
