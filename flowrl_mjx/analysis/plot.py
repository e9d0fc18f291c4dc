"""python -m flowrl_mjx.plot RUN_DIR... [--protocol stochastic|deterministic|both] [--reference]
    [--reference_csv PATH] [--out DIR] [--reference_methods sac,tdmpc2]

Learning curves of training runs: evaluation return against env steps and against wall-clock
time, one PNG per task (`returns_<task>.png`), each run labelled from its config.json (backend,
seed). --protocol picks the evaluation: `stochastic` (default; `eval/return_stochastic`, actions
integrated from a0 ~ N(0, I), the official FlowRL code's protocol), `deterministic`
(`eval/return_deterministic`, a0 = 0), or `both` (deterministic dashed). With --reference the
published CPU DMControl curves of the same task are drawn on the env-steps panel (per method: mean
over seeds, band +-1 std over seeds), each labelled with its source's protocol where the source
documents it. `returns_table.md` gives the return at 100k, 500k and 1M env steps (the logged point
nearest the budget; blank when the run did not get within 10% of it), one column set per protocol,
runs and references alike. Needs matplotlib (`pip install "flowrl_mjx[plot]"`). Bad input, a run
logged before stochastic evaluation existed under a protocol that needs it included: one line
(naming the fix), exit code 2.
"""

import dataclasses
import json
import os
import sys

import numpy as np
from absl import flags

from flowrl_mjx.analysis import reference
from flowrl_mjx.runtime import cli_flags

BUDGETS = (100_000, 500_000, 1_000_000)
# The logged metric of each protocol. Stochastic comes first: it is what the official FlowRL code
# reports, so it is the default and the first column set.
METRICS = {"stochastic": "eval/return_stochastic", "deterministic": "eval/return_deterministic"}
CHOICES = (*METRICS, "both")
# How each protocol acts, for axis labels and table captions.
ACTING = {"stochastic": "a0 ~ N(0, I), official FlowRL protocol", "deterministic": "a0 = 0"}
# Line style per protocol, the same in every figure (so `both` shows deterministic dashed).
LINESTYLES = {"stochastic": "-", "deterministic": "--"}


def protocols(choice: str) -> tuple:
    """The protocols a --protocol choice shows, in column order."""
    return tuple(METRICS) if choice == "both" else (choice,)


@dataclasses.dataclass
class Curve:
    steps: np.ndarray  # env steps of the log points with a finite return of this protocol
    wall: np.ndarray  # wall-clock seconds at those points
    returns: np.ndarray  # mean eval return at those points


@dataclasses.dataclass
class Run:
    name: str  # the run dir's folder name
    task: str
    backend: str
    seed: int
    curves: dict  # {protocol: Curve}, one per protocol shown

    @property
    def label(self) -> str:
        return f"{self.backend} s{self.seed} ({self.name})"


def load_run(path: str, shown=("stochastic",)) -> Run:
    """A run dir's evaluated log points for the protocols `shown`; ValueError (one line) when
    missing or malformed, or when a protocol has no log point."""
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
    rows = _log_rows(metrics)
    curves = {p: _curve(rows, METRICS[p], metrics) for p in shown}
    for p, curve in curves.items():
        if curve is None:
            raise ValueError(_no_points(path, p, rows))
    return Run(os.path.basename(os.path.normpath(path)), task, settings.get("backend", "mjx"),
               settings.get("seed", 0), curves)  # fmt: skip


def _no_points(path: str, protocol: str, rows: list) -> str:
    """Why a run has no curve for `protocol`; names the fix for runs that predate it."""
    why = f"run dir {path}: no log point with {METRICS[protocol]} in metrics.jsonl"
    other = [p for p in METRICS if p != protocol and any(METRICS[p] in r for _, r in rows)]
    if other:  # an old run (deterministic eval only) still plots under the protocol it logged
        why += f" (it logs {METRICS[other[0]]}: plot it with --protocol {other[0]})"
    return why


def _log_rows(path: str) -> list:
    """[(line number, row)] of metrics.jsonl; ValueError naming the line of a malformed one."""
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
                if not isinstance(row, dict):
                    raise ValueError
            except (json.JSONDecodeError, ValueError):
                raise ValueError(_malformed(path, n)) from None
            rows.append((n, row))
    return rows


def _malformed(path: str, n: int) -> str:
    return f"{path}:{n}: malformed log line (need a JSON object with env_steps, wall_time)"


def _curve(rows: list, metric: str, path: str):
    """The Curve of `metric` (its finite values), or None when no row has one."""
    kept = []
    for n, row in rows:
        try:
            if metric not in row or not np.isfinite(row[metric]):
                continue
            kept.append((float(row["env_steps"]), float(row["wall_time"]), float(row[metric])))
            if not all(np.isfinite(kept[-1][:2])):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ValueError(_malformed(path, n)) from None
    if not kept:
        return None
    return Curve(*(np.array(c, float) for c in zip(*kept, strict=True)))


def _cell(value, n=None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if n is None else f"{value:.1f} (n={n})"


def _budget(b: int) -> str:
    return f"{b // 1000}k" if b < 10**6 else f"{b // 10**6}M"


def _reference_set(label: str, shown: tuple) -> int:
    """Which column set a published row fills: its source's documented protocol when shown,
    else the first (the default comparison); its label names the source's protocol either way."""
    documented = reference.source_protocol(label)
    return shown.index(documented) if documented in shown else 0


def caption(shown: tuple) -> str:
    """The sentence above the returns table: what each column set's protocol means."""
    acting = "; ".join(f"{p}: {ACTING[p]}" for p in shown)
    return (f"Evaluation return at each env-step budget ({acting}). Published rows sit under "
            "their source's protocol where the source documents it and it is shown, else under "
            "the first column set; each label names the source's protocol.")  # fmt: skip


def table(runs: list, refs: dict, shown=("stochastic",)) -> str:
    """Markdown: return at each budget, one column set per protocol shown, one row per run and
    per reference method."""
    width = len(BUDGETS)
    head = ["task", "curve", *[f"{p} {_budget(b)}" for p in shown for b in BUDGETS]]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (width * len(shown))]
    for task in sorted({r.task for r in runs}):
        for r in (r for r in runs if r.task == task):
            cells = [_cell(reference.value_at(r.curves[p].steps, r.curves[p].returns, b))
                     for p in shown for b in BUDGETS]  # fmt: skip
            lines.append("| " + " | ".join([task, r.label, *cells]) + " |")
        for method, seeds in sorted(refs.get(task, {}).items()):
            vals = [reference.seeds_at(seeds, b) for b in BUDGETS]
            cells = [""] * (width * len(shown))
            at = _reference_set(method, shown) * width
            cells[at : at + width] = [_cell(float(np.mean(v)), len(v)) if v else "" for v in vals]
            label = f"published {method} ({reference.protocol_note(method)})"
            lines.append("| " + " | ".join([task, label, *cells]) + " |")
    return "\n".join(lines) + "\n"


# Runs in strong colours, drawn over the published curves (tab20, thin, translucent bands).
RUN_COLORS = ("black", "crimson", "royalblue", "darkorange", "forestgreen", "purple")


def ylabel(shown: tuple) -> str:
    """The return axis label: which protocol(s) the run curves show (short enough for 5 in)."""
    if len(shown) > 1:
        return "return: stochastic eval (solid), deterministic (dashed)"
    if shown[0] == "stochastic":
        return "return, stochastic eval (official FlowRL protocol)"
    return "return, deterministic eval (a0 = 0)"


def figure(task: str, runs: list, refs: dict, path: str, shown=("stochastic",)) -> None:
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
        label = f"{method} (n={len(seeds)}; {reference.protocol_note(method)})"
        by_steps.plot(steps, mean, lw=1, color=color, label=label)
        by_steps.fill_between(steps, mean - std, mean + std, color=color, alpha=0.1, lw=0)
    ref_legend = by_steps.get_legend_handles_labels()
    hours = max(c.wall.max() for r in runs for c in r.curves.values()) > 7200
    for i, r in enumerate(runs):
        for p in shown:
            c = r.curves[p]
            style = dict(lw=2.5, marker=".", color=RUN_COLORS[i % len(RUN_COLORS)],
                         ls=LINESTYLES[p], label=f"{r.label}, {p}")  # fmt: skip
            by_steps.plot(c.steps, c.returns, **style)
            by_wall.plot(c.wall / (3600 if hours else 60), c.returns, **style)
    by_steps.set(xlabel="env steps", ylabel=ylabel(shown), title=task)
    unit = "hours" if hours else "minutes"
    by_wall.set(xlabel=f"wall-clock ({unit})", ylabel=ylabel(shown), title=f"{task}: wall-clock")
    by_wall.legend(fontsize=8, loc="best")
    for ax in (by_steps, by_wall):
        ax.grid(alpha=0.3)
    if refs:
        fig.legend(*ref_legend, loc="outside right upper", fontsize=7,
                   title="published (mean, band ±1 std over seeds)", title_fontsize=7)  # fmt: skip
    fig.savefig(path, dpi=110)


def plot_runs(run_dirs, out: str, reference_csv=None, methods=None, protocol="stochastic") -> dict:
    """Writes returns_<task>.png per task and returns_table.md into `out`; returns
    {"figures": [...], "table": path, "markdown": caption and table, "no_reference": [task, ...]}.
    reference_csv None: no references; methods: keep only these reference methods (by name);
    protocol: one of CHOICES."""
    if protocol not in CHOICES:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(CHOICES)}")
    shown = protocols(protocol)
    runs = [load_run(p, shown) for p in run_dirs]
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
        figure(task, [r for r in runs if r.task == task], refs.get(task, {}), path, shown)
        figures.append(path)
    text = f"{caption(shown)}\n\n{table(runs, refs, shown)}"
    path = os.path.join(out, "returns_table.md")
    with open(path, "w") as f:
        f.write(text)
    missing = [t for t in tasks if reference_csv and not refs.get(t)]
    return dict(figures=figures, table=path, markdown=text, no_reference=missing)


# Its own FlagValues (not absl's global FLAGS): it is imported beside other entry points that
# define --out and --protocol too (launch/compare_dmc.py; flowrl_mjx.runtime.cli_flags).
FLAGS = cli_flags.flag_values(__doc__)
flags.DEFINE_enum(
    "protocol",
    "stochastic",
    list(CHOICES),
    "evaluation to plot: stochastic (a0 ~ N(0, I), the official FlowRL protocol; "
    "default), deterministic (a0 = 0), or both (deterministic dashed)",
    flag_values=FLAGS,
)
flags.DEFINE_bool("reference", False, "overlay published DMControl curves", flag_values=FLAGS)
flags.DEFINE_string(
    "reference_csv",
    None,
    "reference data (implies --reference; default: the bundled file)",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "reference_methods",
    None,
    "comma-separated methods to draw: sac,tdmpc2 or 'sac [T2]' (default all)",
    flag_values=FLAGS,
)
flags.DEFINE_string("out", "plots", "output folder (default: plots)", flag_values=FLAGS)


def main(argv=None) -> int:
    """RUN_DIR... and the flags of `argv` (None: the command line's); 0, or 2 on bad input."""
    run_dirs = cli_flags.parse_argv(FLAGS, argv, positional="RUN_DIR")
    args = FLAGS
    csv_path = args.reference_csv or (reference.default_path() if args.reference else None)
    methods = args.reference_methods or None
    try:
        result = plot_runs(run_dirs, args.out, csv_path, methods, args.protocol)
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
