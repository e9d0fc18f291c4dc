"""Same seed, same numbers: a fixed-seed CPU run of two revisions of this repository compared row
by row in metrics.jsonl.

    python -m launch.behaviour_check --before <git revision> [--after <revision or "work">]

Each revision is checked out (git worktree, detached) in a temporary folder and runs the same
short training commands there with `python -m flowrl_mjx.launch` (the MJX backend with one seed
and with two seeds, optionally the dm_control backend, which must then be installed as for
`--backend dm_control`), and a run started by "before" and resumed by "after" (resume_across:
a run made before the change continues after it). "work" is this working tree as it is. Every
metric of every row must be equal, except wall-clock figures (`wall_time`, `perf/*`), which
measure the machine. A refactoring that claims "behaviour unchanged" runs this against the
revision before it; exit code 0 when every run matched, 1 otherwise, with the differing values
printed.
"""

import json
import math
import os
import subprocess
import sys
import tempfile

from absl import app, flags

flags.DEFINE_string("before", None, "git revision of the reference behaviour", required=True)
flags.DEFINE_string("after", "work", "git revision to compare, or 'work': this working tree")
flags.DEFINE_list(
    "cases", ["mjx", "mjx_2seeds", "dm_control", "resume_across"], "which runs to compare"
)
flags.DEFINE_string("keep", None, "keep the runs' folders under this folder (default: removed)")
FLAGS = flags.FLAGS

# cartpole_balance with small networks: every part of the program runs (warm-up, updates with
# both delays, evaluation, a checkpoint) in a few minutes of CPU, compile included.
COMMON = [
    "--task", "cartpole_balance", "--seed", "7", "--num_envs", "8", "--total_env_steps", "960",
    "--iters_per_epoch", "20", "--warmup_steps", "320", "--batch_size", "32",
    "--actor_hidden", "32,32", "--critic_hidden", "32,32", "--value_hidden", "32,32",
    "--replay_size", "4096", "--recent_window", "256", "--num_eval_envs", "2",
    "--checkpoint_every", "2",
]  # fmt: skip
CASES = {
    "mjx": ["--backend", "mjx"],
    "mjx_2seeds": ["--backend", "mjx", "--num_seeds", "2"],
    "dm_control": ["--backend", "dm_control"],
}
# resume_across: the run starts in the "before" tree, stops at half its budget with a checkpoint,
# and the "after" tree resumes it (a run made before a change, continued after it); compared
# with the "before" tree's straight run (MJX resumes exactly: env states are checkpointed).
HALF = ["--total_env_steps", "480"]
IGNORED_PREFIXES = ("perf/",)
# Values that a stated change of arithmetic may move by rounding only: {case: {metric: relative
# tolerance}}. The dm_control backend's train/reward used to be one float64 sum over the epoch
# divided by its count; with the runner shared by both backends it is each iteration's float32
# mean, averaged over the epoch, as the fused MJX program reduces it.
ROUNDING = {"dm_control": {"train/reward": 1e-6}}
IGNORED = {"wall_time"}


def checkout(rev: str, where: str) -> str:
    """A detached worktree of `rev` in `where` (or this tree for 'work')."""
    if rev == "work":
        return os.getcwd()
    subprocess.run(["git", "worktree", "add", "--detach", where, rev], check=True,
                   capture_output=True)  # fmt: skip
    return where


def run_case(tree: str, case: str, out: str, extra=()) -> None:
    cmd = [sys.executable, "-m", "flowrl_mjx.launch", *COMMON, *CASES[case], *extra,
           "--run_dir", out]  # fmt: skip
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"error: {case} in {tree} exited {done.returncode}:\n{done.stderr[-2000:]}"
        )


def rows_of(out: str) -> dict:
    """{seed folder or '.': metrics rows} of a run dir."""
    found = {}
    for d in sorted(os.listdir(out)) + ["."]:
        path = os.path.join(out, d, "metrics.jsonl")
        if (d == "." or d.startswith("seed_")) and os.path.exists(path):
            with open(path) as f:
                found[d] = [json.loads(line) for line in f]
    return found


def differences(before: dict, after: dict, rounding=None) -> list:
    """Human-readable differences between two runs' rows, wall-clock figures aside (and within
    `rounding`'s relative tolerances where a case states one)."""
    rounding = rounding or {}
    out = []
    if set(before) != set(after):
        return [f"run dirs differ: {sorted(before)} vs {sorted(after)}"]
    for member, rows_b in before.items():
        rows_a = after[member]
        if len(rows_a) != len(rows_b):
            out.append(f"{member}: {len(rows_b)} rows vs {len(rows_a)}")
            continue
        for i, (rb, ra) in enumerate(zip(rows_b, rows_a, strict=True)):
            keys = {
                k for k in {*rb, *ra} if k not in IGNORED and not k.startswith(IGNORED_PREFIXES)
            }
            for k in sorted(keys):
                vb, va = rb.get(k), ra.get(k)
                same = vb == va or (
                    isinstance(vb, float) and isinstance(va, float) and math.isnan(vb)
                    and math.isnan(va)
                )  # fmt: skip
                if not same and k in rounding and isinstance(vb, float) and isinstance(va, float):
                    same = math.isclose(vb, va, rel_tol=rounding[k])
                if not same:
                    out.append(f"{member} row {i} {k}: {vb} vs {va}")
    return out


def main(_):
    base = FLAGS.keep or tempfile.mkdtemp(prefix="behaviour_check_")
    trees = {}
    for label, rev in (("before", FLAGS.before), ("after", FLAGS.after)):
        trees[label] = checkout(rev, os.path.join(base, f"tree_{label}"))
    failed = False
    straight_rows = {}

    def straight(label: str, case: str) -> dict:
        """Rows of one uninterrupted run of a case in a tree (run once, reused by resume_across)."""
        out = os.path.join(base, f"{case}_{label}")
        if out not in straight_rows:
            run_case(trees[label], case, out)
            straight_rows[out] = rows_of(out)
        return straight_rows[out]

    try:
        for case in FLAGS.cases:
            if case == "resume_across":
                out = os.path.join(base, "resume_across")
                run_case(trees["before"], "mjx", out, HALF)
                resume = [sys.executable, "-m", "flowrl_mjx.launch", "--resume", "--run_dir", out,
                          "--total_env_steps", COMMON[COMMON.index("--total_env_steps") + 1],
                          "--checkpoint_every", "2"]  # fmt: skip
                done = subprocess.run(resume, cwd=trees["after"], capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"error: resume in the after tree: {done.stderr[-2000:]}")
                runs = {"before": straight("before", "mjx"), "after": rows_of(out)}
            else:
                runs = {label: straight(label, case) for label in trees}
            diff = differences(runs["before"], runs["after"], ROUNDING.get(case))
            n_rows = sum(len(r) for r in runs["after"].values())
            within = f", {', '.join(ROUNDING[case])} within rounding" if case in ROUNDING else ""
            verdict = "same" if not diff else "DIFFERENT"
            print(f"{case}: {verdict} ({n_rows} rows{within})", flush=True)
            for line in diff[:20]:
                print(f"  {line}")
            failed |= bool(diff)
    finally:
        for label, rev in (("before", FLAGS.before), ("after", FLAGS.after)):
            if rev != "work" and not FLAGS.keep:
                subprocess.run(["git", "worktree", "remove", "--force", trees[label]],
                               capture_output=True)  # fmt: skip
    print(f"before {FLAGS.before}, after {FLAGS.after}: {'DIFFERENT' if failed else 'same'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    app.run(main)
