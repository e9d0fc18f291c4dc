"""The run directory: config.json, model.mjb, metrics.jsonl, TensorBoard events, summary.json,
and optionally a Weights & Biases run (RunConfig.wandb, `pip install -e .[wandb]`)."""

import dataclasses
import glob
import json
import math
import os
import secrets
import shutil
import string
import time
from typing import NamedTuple

import jax
import numpy as np

from envs import model_io
from flowrl_mjx.runtime.machine import machine_info


def device_memory_bytes():
    """Memory of the first device (GPU: XLA's limit; CPU: physical RAM), or None if unknown."""
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def holds_run(path) -> bool:
    """True when `path` holds a run of ours: a config.json with the settings a run writes."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            settings = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and {"task", "config"} <= settings.keys()


def prepare(path, task, seed, resume: bool, overwrite: bool = False) -> str:
    """Creates (or checks) the run folder; raises ValueError/OSError with a one-line reason.

    A new run needs a new or empty folder: one holding files that are not a run of ours is
    refused (a mistyped --run_dir must not mix a run into someone's data), and so is one holding
    a run (continue it with --resume, or replace it with --overwrite, which deletes that run's
    folder first; a folder that is not a run of ours is never deleted). --resume needs a run of
    ours; one stopped before its first checkpoint starts again from zero (the runners say so on
    one line).
    """
    if path is None:
        path = os.path.join("runs", f"{task}_s{seed}_{time.strftime('%Y%m%d-%H%M%S')}")
    ours = holds_run(path)
    if resume and overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces it: pass one")
    if resume and not ours:
        raise ValueError(f"--resume: {path} holds no run (no config.json of flowrl_mjx)")
    if overwrite and ours:
        shutil.rmtree(path)
        ours = False
    if not resume and ours:
        raise ValueError(
            f"run dir {path} already holds a run; pass --resume, --overwrite or another --run_dir"
        )
    if not resume and os.path.isdir(path) and os.listdir(path):
        raise ValueError(
            f"run dir {path} is not empty and holds no run (no config.json of flowrl_mjx); "
            "pass a new or empty --run_dir"
        )
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise OSError(f"run dir {path} is not writable: {e.strerror}") from None
    return path


def restart_line(path) -> str:
    """What a --resume of a run stopped before its first checkpoint prints."""
    return f"--resume: {path} has no checkpoint yet (stopped before the first); starting from zero"


class RunLog:
    """Writes what a run leaves behind and prints one progress line per log point."""

    def __init__(self, path, run, env, resume_steps=None, record=None):
        """run: the RunConfig config.json stores (with `record`, where the run ran beyond the
        machine, e.g. the dm_control backend's worker count). resume_steps: env steps of the
        restored checkpoint; later log rows are dropped. None: a run from zero, whose logs start
        empty (a run restarted in its folder included)."""
        self.path = path
        settings = dict(run.to_json(), **(record or {}))
        metrics_path = os.path.join(path, "metrics.jsonl")
        if resume_steps is None:
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(dict(settings, machine=machine_info()), f, indent=1)
            model_io.save_mjb(env.mj_model, os.path.join(path, "model.mjb"))
            _drop_events(path)
        elif os.path.exists(metrics_path):
            _truncate_after(metrics_path, resume_steps)
        self._metrics = open(metrics_path, "a" if resume_steps is not None else "w")
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(path)
        except ImportError:
            self._tb = None
        self.last = {}
        # After config.json: a W&B start that fails (no login) leaves a run that --resume
        # restarts, not a folder that a new run refuses.
        try:
            self._wandb = _wandb_start(path, settings, resume=resume_steps is not None)
        except ValueError:
            self._metrics.close()
            if self._tb is not None:
                self._tb.close()
            raise
        # W&B keeps its steps increasing and drops (with a console warning) a row below its
        # last: a resume from a checkpoint older than W&B's last row sends those rows again.
        self._wandb_next = self._wandb.starting_step if self._wandb is not None else 0

    def write(self, env_steps, metrics, start, total, echo=True, rates=None, shown=None):
        """One log row (its perf/sps: env steps over wall time since the run began, compile
        included); the progress line's steps/s, updates/s and ETA come from `rates` (env steps/s,
        updates/s of the timed calls, see runner) when given. `shown` (SeedMeans) replaces the
        row's returns in the progress line: a multi-seed run prints the mean over its seeds."""
        wall = time.time() - start
        sps = env_steps / max(wall, 1e-9)
        row = {"env_steps": env_steps, "wall_time": wall, "perf/sps": sps, **metrics}
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()
        if self._tb is not None:
            for k, v in tb_scalars(row).items():
                self._tb.add_scalar(k, v, env_steps)
            self._tb.flush()
        if self._wandb is not None and env_steps >= self._wandb_next:
            self._wandb.log(tb_scalars(row), step=env_steps)
            self._wandb_next = env_steps + 1
        self.last = row
        if not echo:
            return
        rate, ups = rates if rates else (sps, None)
        eta = (total - env_steps) / max(rate, 1e-9)
        returns = metrics if shown is None else shown.metrics
        seeds = 1 if shown is None else shown.seeds
        print(progress_line(env_steps, rate, returns, eta, ups, seeds), flush=True)

    def close(self, status):
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()
        with open(os.path.join(self.path, "summary.json"), "w") as f:
            json.dump(dict(status=status, final=self.last), f, indent=1)
        if self._wandb is not None:
            self._wandb.summary["status"] = status
            # W&B marks a non-zero exit 'failed': a stopped or interrupted run did not finish
            self._wandb.finish(exit_code=0 if status == "finished" else 1)
            self._wandb = None


WANDB_ID = "wandb_id"  # the run dir's W&B run id: a --resume logs into the same W&B run
WANDB_MISSING = "--wandb_project needs `pip install -e .[wandb]`"


class WandbError(ValueError):
    """W&B could not start the run (no login, no network in online mode); one line."""


def import_wandb():
    """The wandb module, or ValueError with the install hint (it is an optional extra)."""
    try:
        import wandb
    except ImportError:
        raise ValueError(WANDB_MISSING) from None
    return wandb


def wandb_member(options, group_dir, num_seeds):
    """One seed's W&B options (a run_config.Wandb) in a multi-seed run: its seeds are grouped,
    by default under the run dir's name (each seed's W&B run is named after its seed folder, see
    `_wandb_start`)."""
    if not options or num_seeds == 1:
        return options
    return dataclasses.replace(
        options, group=options.group or os.path.basename(os.path.abspath(group_dir))
    )


def new_wandb_id() -> str:
    """A W&B run id as W&B makes them (8 lowercase letters and digits, so 36^8 make a clash in
    a project unlikely); its helper for this moved between wandb releases."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _wandb_start(path, settings, resume):
    """The W&B run of `path` when settings["wandb"] (the stored RunConfig's) asks for one,
    else None. Its id is stored in path/wandb_id: a resumed run continues that W&B run (a run
    from zero gets a new one, as its other logs start empty). Named after the run folder; W&B's
    own console output is off (a run's stdout is our lines); its local files go to the run dir
    unless WANDB_DIR says where; WANDB_MODE=offline works without a network (`wandb sync`)."""
    options = settings.get("wandb")
    if not options:
        return None
    # W&B's warnings follow its process-wide settings, read from the environment once, not the
    # run's own (silent=True below): a user's explicit WANDB_SILENT still wins
    os.environ.setdefault("WANDB_SILENT", "true")
    wandb = import_wandb()
    id_path = os.path.join(path, WANDB_ID)
    run_id = None
    if resume and os.path.exists(id_path):
        with open(id_path) as f:
            run_id = f.read().strip() or None
    if run_id is None:
        run_id = new_wandb_id()
        with open(id_path, "w") as f:
            f.write(run_id + "\n")
    config = {k: v for k, v in settings.items() if k != "wandb"}
    try:
        run = wandb.init(
            project=options["project"],
            entity=options.get("entity"),
            group=options.get("group"),
            name=os.path.basename(os.path.abspath(path)),
            id=run_id,
            resume="allow",
            config=config,
            dir=None if os.environ.get("WANDB_DIR") else path,
            reinit="create_new",  # one W&B run per seed, all open in this process
            settings=wandb.Settings(silent=True, console="off"),
        )
    except Exception as e:  # wandb raises several error types; the runner needs one line
        raise WandbError(
            f"W&B could not start run {run_id} in project {options['project']}: "
            f"{' '.join(str(e).split())} (without a login or network: WANDB_MODE=offline)"
        ) from None
    if run.disabled:  # WANDB_MODE=disabled: W&B's no-op run
        where = "disabled (WANDB_MODE)"
    elif run.offline:  # (run.url would print W&B's 'no URL' warning)
        where = f"offline; upload it with `wandb sync {run.settings.sync_dir}`"
    else:
        where = run.url
    print(f"W&B run {run.name} ({run_id}): {where}", flush=True)
    return run


def tb_scalars(row) -> dict:
    """The row's finite values, env_steps aside: TensorBoard gets no NaN/Inf point (a NaN train
    return only means no episode has ended yet, and it would spoil the plot's axis range)."""
    return {k: v for k, v in row.items() if k != "env_steps" and math.isfinite(v)}


class SeedMeans(NamedTuple):
    """What a multi-seed run's progress line shows: returns averaged over `seeds` seeds."""

    metrics: dict
    seeds: int


def seed_means(rows) -> SeedMeans:
    """The progress line's returns over a run's seeds: eval returns by plain mean (one diverged
    seed's NaN stays visible), the train return over the seeds that have finished an episode."""
    out = {}
    for k in ("eval/return_stochastic", "eval/return_deterministic"):
        if k in rows[0]:
            out[k] = float(np.mean([r[k] for r in rows]))
    train = [r["train/episode_return"] for r in rows if "train/episode_return" in r]
    train = [v for v in train if math.isfinite(v)]
    if train:
        out["train/episode_return"] = float(np.mean(train))
    return SeedMeans(out, len(rows))


def progress_line(env_steps, sps, metrics, eta_s, ups=None, seeds=1) -> str:
    """The line printed at each log point. Stochastic eval comes first and is marked as the
    official FlowRL code's protocol, so it is the number read against published FlowRL curves.
    `-` marks what there is nothing of yet: no eval this epoch, no finished training episode (a
    NaN train return is VecEnv's 'no episode ended'; an eval's NaN stays: a diverged policy).
    With `seeds` > 1 the returns are means over that many seeds, and the line says so."""
    train = metrics.get("train/episode_return")
    train = train if train is not None and math.isfinite(train) else None
    updates = "" if ups is None else f" {ups:6.1f} updates/s |"
    mean = "" if seeds == 1 else f" (mean of {seeds} seeds)"
    return (f"steps {env_steps:>10,d} | {sps:8.0f} steps/s |{updates} eval return{mean} stochastic "
            f"{_cell(metrics.get('eval/return_stochastic'))} (official protocol) deterministic "
            f"{_cell(metrics.get('eval/return_deterministic'))} | train return {_cell(train)} | "
            f"ETA {max(eta_s, 0.0) / 60:6.1f} min")  # fmt: skip


def _cell(value) -> str:
    """A return in the progress line's fixed width, or '-' for none."""
    return f"{'-':>6}" if value is None else f"{value:6.1f}"


def write_json(path, name, payload) -> None:
    with open(os.path.join(path, name), "w") as f:
        json.dump(payload, f, indent=1)


def load_settings(path) -> dict:
    with open(os.path.join(path, "config.json")) as f:
        return json.load(f)


def _drop_events(path):
    """Removes TensorBoard event files of an earlier attempt in this folder (a run restarted from
    zero): their points would plot beside the new run's."""
    for name in glob.glob(os.path.join(glob.escape(path), "events.out.tfevents.*")):
        os.remove(name)


def _truncate_after(metrics_path, env_steps):
    """Keeps the rows logged up to the checkpoint a resumed run restarts from."""
    with open(metrics_path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)["env_steps"] <= env_steps]
    with open(metrics_path, "w") as f:
        f.writelines(rows)
