"""MJX vs CPU dm_control: the same task, seed and budget trained on both backends, one report.

    python -m launch.compare_dmc --task cheetah_run --total_env_steps 1000000 \\
        [--launch_args "--preset cpu"] [--episodes 10] [--out results/compare_dmc/cheetah_run_s0]

Runs `python -m flowrl_mjx.launch --backend mjx` and then `--backend dm_control` (one after the
other, so they do not share the machine) into OUT/mjx and OUT/dm_control, evaluates the MJX-trained
policy in both simulators (`python -m flowrl_mjx.evaluate`: the transfer gap), draws the curves
with the published references (`python -m flowrl_mjx.plot`) and writes OUT/compare.json and
OUT/compare.md: returns at 100k/500k/1M, training wall-clock of each backend and their ratio,
the transfer gap, machine and date. Returns are labelled with their evaluation protocol; the
curves and budget table show --protocol (default stochastic, a0 ~ N(0, I): the official FlowRL
protocol), the final-return and transfer tables show both. --skip_train rebuilds the report from
existing run dirs (runs logged before stochastic evaluation: --protocol deterministic).
"""

import json
import os
import shlex
import subprocess
import sys
import time
import types

from absl import flags

from flowrl_mjx.analysis import plot, reference
from flowrl_mjx.runtime import cli_flags
from launch.common import header, machine_info

BACKENDS = ("mjx", "dm_control")


# Its own FlagValues (not absl's global FLAGS): it imports flowrl_mjx.analysis.plot, whose flags
# --out and --protocol it shares (flowrl_mjx.runtime.cli_flags).
FLAGS = cli_flags.flag_values(__doc__)
flags.DEFINE_string("task", "cheetah_run", "task name (see envs.names())", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "random seed of both runs and the transfer eval", flag_values=FLAGS)
flags.DEFINE_integer("total_env_steps", 1_000_000, "env steps each backend trains for",
                     flag_values=FLAGS)  # fmt: skip
flags.DEFINE_string("launch_args", "", "extra flowrl_mjx.launch flags, both runs",
                    flag_values=FLAGS)  # fmt: skip
flags.DEFINE_integer("episodes", 10, "transfer eval episodes (0: skip)", flag_values=FLAGS)
flags.DEFINE_integer("episode_length", 1000, "transfer eval episode length", flag_values=FLAGS)
flags.DEFINE_list("reference_methods", None, "as flowrl_mjx.plot's", flag_values=FLAGS)
flags.DEFINE_enum(
    "protocol",
    "stochastic",
    list(plot.CHOICES),
    "eval returns in the curves and budget table, as flowrl_mjx.plot's (default "
    "stochastic: the official FlowRL protocol)",
    flag_values=FLAGS,
)
flags.DEFINE_string("out", None, "default results/compare_dmc/<task>_s<seed>", flag_values=FLAGS)
flags.DEFINE_bool("skip_train", False, "reuse OUT/mjx and OUT/dm_control", flag_values=FLAGS)


def parse(argv=None):
    """The settings of `argv` (None: the command line's) as attributes, with the command as typed
    and the output folder filled in; bad input: one line, exit code 2."""
    cli_flags.parse_argv(FLAGS, argv)
    args = types.SimpleNamespace(**cli_flags.values(FLAGS))
    # the command as typed (shell-quoted): machine_info's plain join loses --launch_args' quotes
    typed = sys.argv[1:] if argv is None else argv
    args.command = "python -m launch.compare_dmc " + shlex.join(typed)
    args.out = args.out or os.path.join("results", "compare_dmc", f"{args.task}_s{args.seed}")
    return args


def train(args, backend: str) -> dict:
    """Runs one training subprocess; returns its command and process wall-clock seconds."""
    run = os.path.join(args.out, backend)
    cmd = [sys.executable, "-m", "flowrl_mjx.launch", "--backend", backend, "--task", args.task,
           "--seed", str(args.seed), "--total_env_steps", str(args.total_env_steps),
           "--run_dir", run, *shlex.split(args.launch_args)]  # fmt: skip
    print("+ " + shlex.join(cmd[1:]), flush=True)
    start = time.time()
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"error: {backend} training exited with code {done.returncode}")
    return dict(command="python " + shlex.join(cmd[1:]), process_seconds=time.time() - start)


def transfer(args) -> dict | None:
    """flowrl_mjx.evaluate on the MJX-trained run, both simulators; its eval_transfer.json."""
    if args.episodes < 1:
        return None
    run = os.path.join(args.out, "mjx")
    cmd = [sys.executable, "-m", "flowrl_mjx.evaluate", "--run_dir", run, "--backend", "both",
           "--episodes", str(args.episodes), "--episode_length", str(args.episode_length),
           "--seed", str(args.seed)]  # fmt: skip
    print("+ " + shlex.join(cmd[1:]), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit("error: flowrl_mjx.evaluate failed on the MJX run")
    with open(os.path.join(run, "eval_transfer.json")) as f:
        report = json.load(f)
    report.pop("machine", None)
    return report


def _final(run_dir: str) -> dict:
    """The last log row (summary.json) of a run: env steps, wall time, steps/s, returns."""
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    row = summary.get("final", {})
    keys = ("env_steps", "wall_time", "perf/sps", "eval/return_deterministic",
            "eval/return_stochastic", "perf/host_env_fraction")  # fmt: skip
    return dict(status=summary.get("status"), **{k: row[k] for k in keys if k in row})


def report(args, runs: dict, gap) -> dict:
    """compare.json's content (plots written into args.out on the way)."""
    dirs = [os.path.join(args.out, b) for b in BACKENDS]
    methods = args.reference_methods or None
    plotted = plot.plot_runs(dirs, args.out, reference.default_path(), methods, args.protocol)
    final = {b: _final(d) for b, d in zip(BACKENDS, dirs, strict=True)}
    walls = [final[b].get("wall_time") for b in BACKENDS]
    ratio = walls[1] / walls[0] if all(walls) else None
    return dict(task=args.task, seed=args.seed, total_env_steps=args.total_env_steps,
                launch_args=args.launch_args, runs=runs, final=final,
                wall_clock_ratio_dm_control_over_mjx=ratio, transfer=gap,
                protocol=args.protocol, table=plotted["markdown"],
                figures=[os.path.basename(f) for f in plotted["figures"]],
                machine=dict(machine_info(), command=args.command))  # fmt: skip


def markdown(rep: dict) -> str:
    lines = [f"# MJX vs CPU dm_control: {rep['task']} (seed {rep['seed']}, "
             f"{rep['total_env_steps']:,} env steps)\n", header(rep["machine"]),
             "| backend | env steps | training wall-clock (s) | steps/s | final return stochastic "
             "(official protocol) | final return deterministic |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    nan = float("nan")
    for b, f in rep["final"].items():
        lines.append(f"| {b} | {f.get('env_steps', '')} | {f.get('wall_time', nan):.0f} "
                     f"| {f.get('perf/sps', nan):.0f} "
                     f"| {f.get('eval/return_stochastic', nan):.1f} "
                     f"| {f.get('eval/return_deterministic', nan):.1f} |")  # fmt: skip
    ratio = rep["wall_clock_ratio_dm_control_over_mjx"]
    lines += ["", f"Wall-clock ratio dm_control / MJX: {ratio:.2f}" if ratio else "", ""]
    gap = rep["transfer"]
    if gap:
        from flowrl_mjx.evaluate import table as gap_table

        lines += [f"Transfer: the MJX-trained policy in both simulators ({gap['episodes']} "
                  "episodes each):\n", gap_table(gap), ""]  # fmt: skip
    lines += ["Returns at each budget:\n", rep["table"]]
    lines += [f"![curves]({f})" for f in rep["figures"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse(argv)
    os.makedirs(args.out, exist_ok=True)
    runs = {b: train(args, b) for b in BACKENDS} if not args.skip_train else {}
    try:
        rep = report(args, runs, transfer(args))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(rep, f, indent=1)
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(markdown(rep))
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
