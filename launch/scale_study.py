"""The scale study: FlowRL at 128, 1024 and 4096 envs, returns against env steps and updates.

    python -m launch.scale_study --arms cheetah_4096_Q[,walker_4096_Q,...]   # train, then collect
    python -m launch.scale_study --collect_only                              # tables and plots only

Each arm is one `python -m flowrl_mjx.launch` command (several seeds in one program with
--num_seeds) into runs/scale/<arm>/; an arm whose run dir has a checkpoint is continued with
--resume. After an arm ends, its config.json and per-seed metrics.jsonl are copied to
results/scale/runs/<arm>/ (small; the checkpoints stay in runs/), and everything under
results/scale/runs/ is collected into results/scale/study.json, study.md and one PNG per task.

Gradient updates at a log point are derived from the config: an iteration updates K times once its
env steps reach the warm-up (flowrl_mjx/algorithm/train.py), so after j iterations of N envs
updates = K * max(0, j - ceil(warmup / N) + 1).
"""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
from absl import app, flags

from launch.common import machine_info

NARROW = ["--actor_hidden", "128,128", "--critic_hidden", "128", "--value_hidden", "128"]
# 1024-env arms: a log point every 40 iterations (40,960 env steps, 2,560 updates at K=64).
EVERY_40 = ["--iters_per_epoch", "40"]


# G3's per-update settings at 1024 envs (cheetah_1024_G3_target0.9), the base of the H arms.
_G3 = ["--batch_size", "1024", "--updates_per_iter", "64", "--lr", "1e-3", "--target_rate", "0.9",
       *NARROW]  # fmt: skip


# The gpu preset's per-update settings at 128 envs on the cpu preset (the c3 arms). The cpu preset
# took this batch, K and these settings after them; the flags stay so the commands say what ran.
_C3 = ["--batch_size", "256", "--updates_per_iter", "32", "--lr", "1e-3", "--target_rate", "0.9",
       "--n_step", "3", "--lam", "0.01", "--eval_every", "3"]  # fmt: skip


def _arm(task, num_envs, steps, seeds=2, *extra, preset="gpu", checkpoint_every=5):
    return dict(task=task, num_envs=num_envs, total_env_steps=steps, num_seeds=seeds,
                checkpoint_every=checkpoint_every, flags=["--preset", preset, *extra])  # fmt: skip


# The arms run so far and their settings; a new experiment is a new entry (names are run dirs).
# An arm that names only `--preset gpu` got the preset's fixed values of its day (target_rate,
# n_step and lam changed during the study); each run's config.json, and so study.md's columns,
# hold what it actually ran with, and a resume reads that config.
ARMS = {
    # The gpu preset as first shipped (batch 4096, K=8, lr 3e-4), narrow; stopped at ~1M steps.
    # Launched by hand before this script existed (one seed, --checkpoint_every 100): its recorded
    # command, in study.md, is the one that made its curve.
    "cheetah_4096_A": _arm("cheetah_run", 4096, 2_048_000, 1, "--batch_size", "4096",
                           "--updates_per_iter", "8", *NARROW, "--iters_per_epoch", "25"),
    # A with lr 1e-3 (brax SAC's Playground DMC value).
    "cheetah_4096_B_lr1e-3": _arm("cheetah_run", 4096, 1_024_000, 1, "--batch_size", "4096",
                                  "--updates_per_iter", "8", "--lr", "1e-3", *NARROW),
    # B at the same learner cost per iteration: batch 1024, K=32 (4x the gradient steps).
    "cheetah_4096_C_b1024_k32": _arm("cheetah_run", 4096, 1_024_000, 1, "--batch_size", "1024",
                                     "--updates_per_iter", "32", "--lr", "1e-3", *NARROW),
    # C without the W2 term (lam 0): is the pull toward early buffer actions what slows it?
    "cheetah_4096_D_lam0": _arm("cheetah_run", 4096, 1_024_000, 1, "--batch_size", "1024",
                                "--updates_per_iter", "32", "--lr", "1e-3", "--lam", "0", *NARROW),
    # Per-update efficiency at 1024 envs (cheap updates relative to env steps on this CPU): batch
    # 1024, K=64 (replay ratio 64), ~25.6k updates in 409,600 env steps; one change per arm.
    "cheetah_1024_G0": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                            "--updates_per_iter", "64", "--lr", "1e-3", *NARROW, *EVERY_40),
    # G0 matched the 128-env run per update (not per sample): a larger step per update?
    "cheetah_1024_G1_lr3e-3": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                                   "--updates_per_iter", "64", "--lr", "3e-3", *NARROW, *EVERY_40),
    "cheetah_1024_G2_lam0": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                                 "--updates_per_iter", "64", "--lr", "1e-3", "--lam", "0",
                                 *NARROW, *EVERY_40),
    # Slow targets (keep 0.9 of the old target per step, i.e. tau 0.1) instead of official 0.05.
    "cheetah_1024_G3_target0.9": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                                      "--updates_per_iter", "64", "--lr", "1e-3",
                                      "--target_rate", "0.9", *NARROW, *EVERY_40),
    # Slower still: keep 0.99 per step (tau 0.01 every 2 updates, SAC's usual 0.005 per update).
    "cheetah_1024_G5_target0.99": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                                       "--updates_per_iter", "64", "--lr", "1e-3",
                                       "--target_rate", "0.99", *NARROW, *EVERY_40),
    # walker_run at G0's settings.
    "walker_1024_G0": _arm("walker_run", 1024, 409_600, 1, "--batch_size", "1024",
                           "--updates_per_iter", "64", "--lr", "1e-3", *NARROW, *EVERY_40),
    # G0 with observation normalisation (a labelled extension, flowrl_mjx/algorithm/normalizer.py).
    "cheetah_1024_G4_obsnorm": _arm("cheetah_run", 1024, 409_600, 1, "--batch_size", "1024",
                                    "--updates_per_iter", "64", "--lr", "1e-3", "--obs_norm",
                                    *NARROW, *EVERY_40),
    # The study's rows: the presets as shipped (narrow), 2 seeds. 128 envs: the cpu preset with
    # G3's target rate (keep 0.9 per target step), seed 1, single-seed so that its wall-clock is
    # the side-by-side figure against brax SAC (launch/peer_brax_sac.py); seed 0 at the official
    # rate is the earlier run e.
    "cheetah_128_cpu_t0.9_s1": _arm("cheetah_run", 128, 532_480, 1, "--seed", "1",
                                    "--eval_every", "3", "--target_rate", "0.9", preset="cpu"),
    # 4096 envs: the gpu preset as shipped (batch 4096, K=20, lr 1e-3, target_rate 0.9), 2 seeds,
    # to the target's 10M env steps (resumable: rerun the same command to continue).
    "cheetah_4096_P": _arm("cheetah_run", 4096, 10_240_000, 2, *NARROW),
    "walker_4096_P": _arm("walker_run", 4096, 10_240_000, 2, *NARROW),
    # A cheaper cpu recipe in wall-clock: G3's per-update settings at 128 envs (batch 512, lr 1e-3,
    # target_rate 0.9) with replay ratio 64 (K=16: 1/8 update per env step instead of 2).
    "cheetah_128_c2_s1": _arm("cheetah_run", 128, 1_024_000, 1, "--seed", "1", "--eval_every",
                              "3", "--batch_size", "512", "--updates_per_iter", "16", "--lr",
                              "1e-3", "--target_rate", "0.9", preset="cpu"),
    # 1024 envs: the gpu preset (batch 1024, K=20, lr 1e-3, target_rate 0.9), 2 seeds.
    "cheetah_1024_P": _arm("cheetah_run", 1024, 614_400, 2, *NARROW, *EVERY_40),
    "walker_1024_P": _arm("walker_run", 1024, 614_400, 2, *NARROW, *EVERY_40),
    # Per-update levers on top of G3 (batch 1024, K=64, lr 1e-3, target 0.9), 2 seeds each (seeds 0
    # and 1); G3 itself again at seed 1 so that both seeds have a baseline.
    "cheetah_1024_H_s1": _arm("cheetah_run", 1024, 409_600, 1, "--seed", "1", *_G3, *EVERY_40),
    # The actor steps every update (official: every second one): twice the actor steps per update.
    "cheetah_1024_H_pd1": _arm("cheetah_run", 1024, 409_600, 2, "--policy_delay", "1", *_G3,
                               *EVERY_40),
    # G4's observation normalisation at G3's target rate.
    "cheetah_1024_H_obsnorm": _arm("cheetah_run", 1024, 409_600, 2, "--obs_norm", *_G3, *EVERY_40),
    # 3-step TD targets (Config.n_step, a labelled extension): value information travels 3 env
    # steps per update instead of 1, where a fixed update budget limits how far it can spread.
    "cheetah_1024_H_n3": _arm("cheetah_run", 1024, 409_600, 2, "--n_step", "3", *_G3, *EVERY_40),
    # 4096 envs: the gpu preset as shipped after the H arms (batch 4096, K=20, lr 1e-3,
    # target_rate 0.9, n_step 3), 2 seeds, to the target's 10M env steps (resumable).
    # (lam 0.1 was the preset's then; named since the preset moved to 0.01 after the R arms.)
    "cheetah_4096_Q": _arm("cheetah_run", 4096, 10_240_000, 2, "--lam", "0.1", *NARROW),
    "walker_4096_Q": _arm("walker_run", 4096, 10_240_000, 2, "--lam", "0.1", *NARROW),
    # Per-update levers on top of H_n3 (G3 + 3-step targets, the shipped gpu preset's per-update
    # settings at 1024 envs). Width: the sweep's narrow critic is 3 layers of 128 (NARROW), the
    # paper's 4 layers of 512; 256-wide with the paper's depth, one seed, asks whether the narrow
    # sweep understates what an update does at the default width.
    "cheetah_1024_I_w256": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3", *_G3,
                                "--actor_hidden", "256,256", "--critic_hidden", "256,256",
                                "--value_hidden", "256,256", *EVERY_40),
    # The actor steps every update (official: every second one), with 3-step targets.
    "cheetah_1024_I_pd1": _arm("cheetah_run", 1024, 409_600, 2, "--n_step", "3",
                               "--policy_delay", "1", *_G3, *EVERY_40),
    # One-change probes on top of H_n3 (seed 0; H_n3's seed 0 is the direct comparison) of the
    # levers the sweep had only tried at the official target rate: the W2 weight, the learning
    # rate, observation normalisation, the actor's update delay.
    "cheetah_1024_J_lam0": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3", "--lam", "0",
                                *_G3, *EVERY_40),
    "cheetah_1024_J_lam0.01": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3", "--lam",
                                   "0.01", *_G3, *EVERY_40),
    "cheetah_1024_J_lr3e-4": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3", *_G3,
                                  "--lr", "3e-4", *EVERY_40),
    "cheetah_1024_J_obsnorm": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3",
                                   "--obs_norm", *_G3, *EVERY_40),
    "cheetah_1024_J_pd1": _arm("cheetah_run", 1024, 409_600, 1, "--n_step", "3",
                               "--policy_delay", "1", *_G3, *EVERY_40),
    # The W2 weight's probes at seed 1 (the two seeds of each lam together answer it).
    "cheetah_1024_J_lam0_s1": _arm("cheetah_run", 1024, 409_600, 1, "--seed", "1", "--n_step",
                                   "3", "--lam", "0", *_G3, *EVERY_40),
    "cheetah_1024_J_lam0.01_s1": _arm("cheetah_run", 1024, 409_600, 1, "--seed", "1",
                                      "--n_step", "3", "--lam", "0.01", *_G3, *EVERY_40),
    # The gpu preset as shipped with a smaller W2 weight, 2 seeds, 4096 envs (compare with Q).
    "cheetah_4096_R_lam0.01": _arm("cheetah_run", 4096, 10_240_000, 2, "--lam", "0.01", *NARROW),
    "cheetah_4096_R_lam0": _arm("cheetah_run", 4096, 10_240_000, 2, "--lam", "0", *NARROW),
    # walker_run's 4096-env row with R's W2 weight (lam 0.01 keeps the term), 2 seeds.
    "walker_4096_R_lam0.01": _arm("walker_run", 4096, 10_240_000, 2, "--lam", "0.01", *NARROW),
    # The gpu preset as shipped at the paper's width (4 layers of 512, the default), one seed: the
    # width confirmation of the narrow sweep's chosen recipe (compare with cheetah_4096_R_lam0.01,
    # seed 0). ~1.1 s per update on 2 cores, so a checkpoint every epoch (about 10 minutes).
    # (Its recorded command shows --checkpoint_every 5 then 1, as it ran: absl keeps the last.)
    "cheetah_4096_S_w512": _arm("cheetah_run", 4096, 10_240_000, 1, checkpoint_every=1),
    # 128 envs with the gpu preset's per-update settings (lr 1e-3, target_rate 0.9, n_step 3,
    # lam 0.01) at batch 256 and replay ratio 64 (K = 32: 1/4 update per env step), 2 seeds: the
    # 2-seed 128-env rows of the study, and a candidate cpu recipe against c2 (batch 512, K = 16,
    # official n_step and lam), whose batch ran unusually slowly on this CPU (update_threads.md).
    "cheetah_128_c3": _arm("cheetah_run", 128, 1_024_000, 2, *_C3, preset="cpu"),
    "walker_128_c3": _arm("walker_run", 128, 1_024_000, 2, *_C3, preset="cpu"),
    # The cpu preset as it ships after the c3 arms (c3's settings), one seed: the side-by-side
    # wall-clock against brax SAC (launch/peer_brax_sac.py), as cheetah_128_c2_s1 was.
    "cheetah_128_cpu_s0": _arm("cheetah_run", 128, 409_600, 1, "--eval_every", "3", preset="cpu"),
    # quadruped_walk with the cpu preset as it ships after the c3 arms, 2 seeds, 128 envs, an
    # evaluation every 30,720 env steps (quadruped's evaluation is costly: results/scale/README.md).
    "quadruped_128_cpu": _arm("quadruped_walk", 128, 1_024_000, 2, "--eval_every", "6",
                              preset="cpu"),
}  # fmt: skip

# Earlier runs that belong in the study, read where they were committed (one seed each).
EARLIER = {"cheetah_128_cpu_e": "results/learning_cpu/cheetah_cpu_e"}

FLAGS = flags.FLAGS


def define_flags():
    """The script's flags, defined only when it runs as a script: tests import this module beside
    other launch/ scripts whose flags share names (absl flags are process-global)."""
    flags.DEFINE_list("arms", [], f"arms to train, comma-separated (of: {', '.join(ARMS)})")
    flags.DEFINE_bool("collect_only", False, "only rebuild study.json/md/png from the copied logs")
    flags.DEFINE_string("runs_root", "runs/scale", "where the arms' run dirs (with checkpoints) go")
    flags.DEFINE_string("out", "results/scale", "study outputs")


def arm_command(name: str, spec: dict, run_dir: str, resume: bool) -> list:
    if resume:
        return [sys.executable, "-m", "flowrl_mjx.launch", "--resume", "--run_dir", run_dir,
                "--total_env_steps", str(spec["total_env_steps"])]  # fmt: skip
    return [
        sys.executable, "-m", "flowrl_mjx.launch", "--task", spec["task"],
        "--num_envs", str(spec["num_envs"]), "--num_seeds", str(spec["num_seeds"]),
        "--total_env_steps", str(spec["total_env_steps"]),
        "--checkpoint_every", str(spec["checkpoint_every"]),
        "--run_dir", run_dir, *spec["flags"],
    ]  # fmt: skip


def train_arm(name: str, spec: dict, runs_root: str, out: str) -> None:
    run_dir = os.path.join(runs_root, name)
    resume = os.path.isdir(os.path.join(run_dir, "checkpoints")) or os.path.isdir(
        os.path.join(run_dir, "seed_0", "checkpoints")
    )
    cmd = arm_command(name, spec, run_dir, resume)
    print(" ".join(cmd[1:]), flush=True)
    rc = subprocess.run(cmd).returncode
    copy_logs(run_dir, os.path.join(out, "runs", name))  # a stopped run's curve counts too
    if rc != 0:
        raise SystemExit(f"error: arm {name} exited with {rc} (its logs so far are copied)")


def copy_logs(run_dir: str, dest: str) -> None:
    """config.json and every metrics.jsonl (per seed) of a run dir, nothing else."""
    for root, _, files in os.walk(run_dir):
        if "checkpoints" in root.split(os.sep):
            continue
        for f in files:
            if f in ("config.json", "metrics.jsonl", "summary.json"):
                target = os.path.join(dest, os.path.relpath(root, run_dir))
                os.makedirs(target, exist_ok=True)
                shutil.copy(os.path.join(root, f), target)


def updates_at(env_steps, num_envs: int, k: int, warmup: int):
    """Gradient updates done after `env_steps` (see the module docstring); only for logs written
    before the runner logged train/updates."""
    j = np.asarray(env_steps) // num_envs
    return k * np.maximum(0, j - math.ceil(warmup / num_envs) + 1)


def _updates(row: dict, env_steps: int, num_envs: int, k: int, warmup: int) -> int:
    """The logged update count (train/updates); logs written before it existed: updates_at."""
    if "train/updates" in row:
        return int(row["train/updates"])
    return int(updates_at(env_steps, num_envs, k, warmup))


def _rows(path: str) -> list:
    with open(path) as f:
        return [r for r in map(json.loads, f) if "eval/return_stochastic" in r]


def collect_run(name: str, folder: str) -> dict:
    """One study run: settings and the mean/per-seed curve over the log points every seed has."""
    with open(os.path.join(folder, "config.json")) as f:
        settings = json.load(f)
    cfg, loop = settings["config"], settings["loop"]
    seed0, n_seeds = settings["seed"], settings.get("num_seeds", 1)
    members = [folder] if n_seeds == 1 else [
        os.path.join(folder, f"seed_{seed0 + i}") for i in range(n_seeds)
    ]  # fmt: skip
    curves = [{r["env_steps"]: r for r in _rows(os.path.join(m, "metrics.jsonl"))} for m in members]
    common = sorted(set.intersection(*(set(c) for c in curves)))
    n, k = loop["num_envs"], cfg["updates_per_iter"]
    points = []
    for s in common:
        per = [c[s] for c in curves]
        sto = [r["eval/return_stochastic"] for r in per]
        det = [r["eval/return_deterministic"] for r in per]
        points.append(dict(
            env_steps=s, updates=_updates(per[0], s, n, k, cfg["warmup_steps"]),
            wall_s=float(np.mean([r["wall_time"] for r in per])),
            eval_return_stochastic=float(np.mean(sto)),
            eval_return_deterministic=float(np.mean(det)),
            per_seed_stochastic=sto, per_seed_deterministic=det,
        ))  # fmt: skip
    machine = settings.get("machine", {})
    return dict(
        name=name, task=settings["task"], num_envs=n, batch_size=cfg["batch_size"],
        updates_per_iter=k, replay_ratio=k * cfg["batch_size"] / n, lr=cfg["lr"],
        lam=cfg["lam"], mode=cfg["mode"], target_rate=cfg["target_rate"],
        obs_norm=cfg.get("obs_norm", False), n_step=cfg.get("n_step", 1),
        policy_delay=cfg.get("policy_delay", 2),
        warmup_steps=cfg["warmup_steps"], recent_window=cfg["recent_window"],
        actor_hidden=cfg["actor_hidden"], critic_hidden=cfg["critic_hidden"],
        value_hidden=cfg["value_hidden"], preset=settings.get("preset"),
        seeds=[seed0 + i for i in range(n_seeds)], command=machine.get("command"),
        date=machine.get("date"), points=points,
    )  # fmt: skip


def collect(out: str) -> dict:
    root = os.path.join(out, "runs")
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    runs = [collect_run(n, os.path.join(root, n)) for n in names]
    runs += [collect_run(n, path) for n, path in EARLIER.items() if os.path.isdir(path)]
    return dict(machine=machine_info(), runs=[r for r in runs if r["points"]])


def _best(run: dict, key: str) -> tuple:
    best = max(run["points"], key=lambda p: p[key])
    return best[key], best["env_steps"], best["updates"]


def _other(run: dict) -> str:
    """The run's departures from the official agent that the table has no column for."""
    parts = [
        f"n_step {run['n_step']}" if run.get("n_step", 1) > 1 else "",
        "obs_norm" if run.get("obs_norm") else "",
        f"policy_delay {run['policy_delay']}" if run.get("policy_delay", 2) != 2 else "",
    ]
    return ", ".join(p for p in parts if p) or "-"  # fmt: skip


def markdown(study: dict) -> str:
    m = study["machine"]
    lines = [
        "# Scale study (issue 15)",
        "",
        f"Machine: {m['cpu_cores']} CPU cores ({m['cpu']}), {m['platform']}, jax "
        f"{m['versions']['jax']}. Returns: means over seeds of 16-episode evaluations; "
        "stochastic = a0 ~ N(0, I), the official FlowRL protocol; deterministic = a0 = 0. "
        "Widths: actor x critic/Q_buffer x V hidden layers (paper: 512x512 each).",
        "",
        "target = the fraction of the old target kept per target step (official 0.05). "
        "Per-seed stochastic returns of the last point in brackets where there are several.",
        "",
        "other = settings beyond the table's columns that differ from the official agent: "
        "n_step (multi-step targets, a labelled extension), obs_norm (a labelled extension), "
        "policy_delay (official 2).",
        "",
        "| run | task | envs | batch | K | replay ratio | lr | target | lam | other | widths "
        "| seeds | env steps | updates | wall s | last sto / det | best sto (at env steps, "
        "updates) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in study["runs"]:
        last = r["points"][-1]
        w = lambda h: "x".join(map(str, h))
        widths = f"{w(r['actor_hidden'])} / {w(r['critic_hidden'])} / {w(r['value_hidden'])}"
        b, bs, bu = _best(r, "eval_return_stochastic")
        per_seed = last["per_seed_stochastic"]
        spread = f" [{', '.join(f'{v:.0f}' for v in per_seed)}]" if len(per_seed) > 1 else ""
        lines.append(
            f"| {r['name']} | {r['task']} | {r['num_envs']} | {r['batch_size']} | "
            f"{r['updates_per_iter']} | {r['replay_ratio']:g} | {r['lr']:g} | "
            f"{r['target_rate']:g} | {r['lam']:g} | {_other(r)} | {widths} | "
            f"{len(r['seeds'])} | {last['env_steps']:,} | {last['updates']:,} | "
            f"{last['wall_s']:,.0f} | {last['eval_return_stochastic']:.1f}{spread} / "
            f"{last['eval_return_deterministic']:.1f} | {b:.1f} ({bs:,}, {bu:,}) |"
        )
    lines += ["", "Commands:", ""]
    lines += [f"- {r['name']}: `{r['command']}` ({r['date']})" for r in study["runs"]]
    return "\n".join(lines) + "\n"


def plot(study: dict, out: str) -> list:
    """One PNG per task, one row of panels per env count (return against env steps, updates and
    wall-clock), so that each row's arms can be told apart; the legend sits beside its row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for task in sorted({r["task"] for r in study["runs"]}):
        runs = [r for r in study["runs"] if r["task"] == task]
        counts = sorted({r["num_envs"] for r in runs})
        fig, grid = plt.subplots(len(counts), 3, figsize=(19, 4.2 * len(counts)), squeeze=False)
        colors = plt.cm.tab20(np.linspace(0, 1, 20))
        for axes, n in zip(grid, counts, strict=True):
            row = [r for r in runs if r["num_envs"] == n]
            for i, r in enumerate(row):
                pts = r["points"]
                y = [p["eval_return_stochastic"] for p in pts]
                label = f"{r['name']} ({len(r['seeds'])} seeds)"
                for ax, key in zip(axes, ("env_steps", "updates", "wall_s"), strict=True):
                    ax.plot([p[key] for p in pts], y, marker=".", color=colors[i % 20], label=label)
            for ax, xl in zip(axes, ("env steps", "gradient updates", "wall-clock s (2 CPU cores)"),
                              strict=True):  # fmt: skip
                ax.set(xlabel=xl, ylabel="return (stochastic eval, mean over seeds)",
                       title=f"{task}, {n} envs")  # fmt: skip
                ax.grid(alpha=0.3)
            # A row whose arms' update counts differ by more than 10x (the 128-env recipes make
            # 1/8 to 2 updates per env step) reads on a log axis; log drops the 0-update points.
            ends = [r["points"][-1]["updates"] for r in row]
            if min(ends) > 0 and max(ends) > 10 * min(ends):
                axes[1].set_xscale("log")
            axes[2].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        path = os.path.join(out, f"scale_{task}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def write(out: str) -> None:
    study = collect(out)
    with open(os.path.join(out, "study.json"), "w") as f:
        json.dump(study, f, indent=1)
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write(markdown(study))
    plot(study, out)


def main(argv):
    del argv
    unknown = [a for a in FLAGS.arms if a not in ARMS]
    if unknown:
        print(f"error: unknown arm(s) {', '.join(unknown)}; valid: {', '.join(ARMS)}",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    os.makedirs(FLAGS.out, exist_ok=True)
    if not FLAGS.collect_only:
        for name in FLAGS.arms:
            train_arm(name, ARMS[name], FLAGS.runs_root, FLAGS.out)
            write(FLAGS.out)
    write(FLAGS.out)


if __name__ == "__main__":
    define_flags()
    app.run(main)
