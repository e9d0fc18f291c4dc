"""The Python API: `flowrl_mjx.run(...)` and `flowrl_mjx.load_run(run_dir)`, for a script or a
notebook.

`train` takes the CLI's path (flowrl_mjx.launch calls the functions below too): the Config and
LoopConfig come from a preset and overrides (`resolve`), the same checks reject bad input before
anything compiles, the env is loaded and the run dir prepared the same way (`setup`), and the
same runner trains and writes the same run dir (`start`). Only the front ends differ: the CLI
turns a ValueError into one `error:` line and exit code 2 and the status into an exit code; the
API raises the ValueError (one line) and returns the status in a `RunResult`.

    import flowrl_mjx
    result = flowrl_mjx.run("cartpole_balance", num_envs=16, total_env_steps=20_000)
    run = flowrl_mjx.load_run(result.run_dir)
    steps, ret = run.column("env_steps"), run.column("eval/return_stochastic")

A stop (Ctrl-C, a notebook's interrupt, SIGTERM) ends training after the current call with a
checkpoint, as on the CLI; `train` then returns with status 'interrupted by SIGINT; ...', and
`train(task, run_dir=R, resume=True, total_env_steps=...)` continues it exactly.
"""

import dataclasses
import difflib
import inspect
import json
import os

import jax
import numpy as np

import envs
from envs import dmc
from flowrl_mjx.algorithm import presets, sharding
from flowrl_mjx.algorithm import train as train_lib
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.runtime import mjx_backend, run_config, runner
from flowrl_mjx.runtime import run_dir as run_files
from flowrl_mjx.runtime.run_config import RunConfig, Wandb

BACKENDS = ("mjx", "dm_control")
FIELDS = {f.name: f for c in (Config, train_lib.LoopConfig) for f in dataclasses.fields(c)}


# --- the steps the CLI (flowrl_mjx.launch) and `train` share --------------------------------------


def resolve(overrides: dict, *, preset=None, replay_ratio=None, num_seeds=1, backend="mjx",
            num_devices=1, total_env_steps=1_000_000) -> tuple:  # fmt: skip
    """(Config, LoopConfig, preset name) of a new run from the preset (default: by num_envs and
    the device) and `overrides` (Config/LoopConfig fields). Raises ValueError with one line for
    an impossible config or combination of settings."""
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    name = preset or presets.default_preset(overrides.get("num_envs"), jax.default_backend())
    try:
        cfg, loop = presets.build(name, replay_ratio=replay_ratio, **overrides)
    except TypeError as e:  # a value of the wrong type (e.g. a string lr) met a comparison
        raise ValueError(f"invalid setting: {e}") from None
    for k in ("num_envs", "iters_per_epoch", "num_eval_envs"):
        if getattr(loop, k) < 1:
            raise ValueError(f"{k} must be positive, got {getattr(loop, k)}")
    if loop.iters_per_call < 0 or (
        loop.iters_per_call and loop.iters_per_epoch % loop.iters_per_call
    ):
        raise ValueError(
            f"iters_per_call={loop.iters_per_call} must be 0 (auto) or divide "
            f"iters_per_epoch={loop.iters_per_epoch}"
        )
    if backend not in BACKENDS:  # the CLI's enum flag rejects it earlier; the API gets here
        raise ValueError(f"backend must be one of {'|'.join(BACKENDS)}, got {backend!r}")
    if num_seeds < 1:
        raise ValueError(f"num_seeds must be positive, got {num_seeds}")
    if num_seeds > 1 and backend != "mjx":
        raise ValueError("--num_seeds > 1 needs --backend mjx (seeds are vmapped on the device)")
    if num_devices != 1:
        if num_seeds > 1 or backend != "mjx":
            raise ValueError("--num_devices != 1 needs --backend mjx and --num_seeds 1")
        mesh = sharding.make_mesh(num_devices)
        sharding.check_divisible(mesh, loop.num_envs, cfg.replay_size)
    if total_env_steps < loop.num_envs:
        raise ValueError(f"total_env_steps ({total_env_steps}) < num_envs ({loop.num_envs})")
    return cfg, loop, name


def new_run(task, seed, preset, backend, num_seeds, num_devices, cfg, loop) -> RunConfig:
    """A new run's RunConfig (budget, cadence and W&B are set by `schedule` and
    `wandb_options`, the task's sizes by `setup`)."""
    return RunConfig(task=task, config=cfg, loop=loop, seed=seed, preset=preset,
                     backend=backend, num_seeds=num_seeds, num_devices=num_devices)  # fmt: skip


def resumed(path) -> RunConfig:
    """The RunConfig stored in `path`'s config.json; a resume re-applies no other setting than
    the budget and the cadence (the caller's, see `schedule`)."""
    try:
        return run_config.load(path)
    except ValueError as e:
        raise ValueError(f"--resume: {e}") from None


def schedule(run: RunConfig, total_env_steps, eval_every, checkpoint_every) -> RunConfig:
    """The run with its budget and cadence (checked: the intervals divide epoch numbers)."""
    check_intervals(eval_every, checkpoint_every)
    return run.replace(total_env_steps=total_env_steps, eval_every=eval_every,
                       checkpoint_every=checkpoint_every)  # fmt: skip


def wandb_options(run: RunConfig, resume: bool, project=None, entity=None,
                  group=None) -> RunConfig:  # fmt: skip
    """The run with its W&B logging (or none) from --wandb_project, --wandb_entity and
    --wandb_group. A resume logs to the run's stored W&B run (its id is in the run dir): other
    W&B options there are refused rather than ignored."""
    named = (("wandb_project", project), ("wandb_entity", entity), ("wandb_group", group))
    for key, value in named:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"--{key} takes a name, got {value!r}")
    if project is None and (entity is not None or group is not None):
        raise ValueError("--wandb_entity and --wandb_group need --wandb_project")
    given = None if project is None else Wandb(project=project, entity=entity, group=group)
    if not resume:
        return run.replace(wandb=given)
    if given is not None and given != run.wandb:
        stored = dataclasses.asdict(run.wandb) if run.wandb else "off"
        raise ValueError(
            f"resume keeps the run's W&B settings ({stored}); drop --wandb_project, "
            "--wandb_entity and --wandb_group or pass the stored ones"
        )
    return run


def check_intervals(eval_every, checkpoint_every) -> None:
    """The loop's intervals divide epoch numbers: 0 or less has no meaning (and divides by 0)."""
    for key, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise ValueError(f"{key} must be positive, got {value}")


def check_memory(cfg, obs_size, action_size, num_seeds=1) -> None:
    """Replay (float32) must fit in device memory with room to spare; estimated, not measured."""
    need = num_seeds * cfg.replay_size * 4 * (2 * obs_size + action_size + 3)
    have = run_files.device_memory_bytes()
    if have and need > 0.8 * have:
        raise ValueError(
            f"replay of {num_seeds} x {cfg.replay_size} transitions needs ~{need / 2**30:.1f} GiB, "
            f"more than 80% of the device's {have / 2**30:.1f} GiB; lower --replay_size"
        )


def setup(run: RunConfig, path, resume: bool, overwrite: bool = False) -> tuple:
    """(run with the task's obs/action sizes, env, run dir): loads the task's env, checks the
    replay fits in memory and creates or checks the run dir. Raises ValueError/OSError."""
    if run.wandb:  # the optional extra: say so before loading anything
        run_files.import_wandb()
    env = dmc.quietly(lambda: envs.load(run.task))
    run = run.replace(obs_size=env.observation_size, action_size=env.action_size)
    check_memory(run.config, env.observation_size, env.action_size, run.num_seeds)
    out = run_files.prepare(path, run.task, run.seed, resume, overwrite)
    return run, env, out


def start(run: RunConfig, env, out, resume) -> str:
    """Prints the device and recipe lines and trains; the runner's status."""
    print(device_line(run.backend), flush=True)
    print(presets.recipe_line(run.preset, run.config, run.loop), flush=True)
    return runner.run(run, env, out, resume)


def device_line(backend: str = "mjx") -> str:
    """Where the run computes: the learner's (and, with MJX, the envs') devices, or the host
    for dm_control's envs."""
    devices = jax.devices()
    kind = devices[0].device_kind
    where = f"device: {jax.default_backend()} ({kind}) x {len(devices)}"
    if jax.default_backend() == "cpu":
        where += f", {os.cpu_count()} CPU cores"
    if backend == "dm_control":
        where += "; envs: dm_control on the host"
    return where


# --- train -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What `train` returns: where the run is, how it ended and what it trained with."""

    run_dir: str
    status: str  # runner's: 'finished', 'interrupted by SIG...; ...' or 'stopped: ...'
    config: Config
    loop: train_lib.LoopConfig

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def final(self) -> dict:
        """The last log row (summary.json's "final"); for several seeds {seed: row}."""
        return load_run(self.run_dir).final

    def load(self) -> "Run":
        return load_run(self.run_dir)


def train(
    task: str,
    *,
    num_envs=None,
    total_env_steps=1_000_000,
    preset=None,
    seed=0,
    num_seeds=1,
    run_dir=None,
    resume=False,
    overwrite=False,
    backend="mjx",
    eval_every=1,
    checkpoint_every=10,
    replay_ratio=None,
    num_devices=1,
    wandb_project=None,
    wandb_entity=None,
    wandb_group=None,
    **overrides,
) -> RunResult:
    """Trains `task` as `python -m flowrl_mjx.launch --task TASK ...` would and returns a
    RunResult once the run ends (finished, interrupted or stopped).

    num_envs, preset, replay_ratio and `overrides` (any field of flowrl_mjx.algorithm.config.Config
    or train.LoopConfig, e.g. lr=1e-3, actor_hidden=(64, 64)) set up a new run as the CLI's flags
    do: the preset's numbers follow from num_envs, overrides replace them. run_dir: a new or
    empty folder (default runs/<task>_s<seed>_<time>). resume=True continues the run in
    run_dir from its newest checkpoint with its stored settings; only total_env_steps applies
    then (task must be the stored one, and settings that would be ignored are refused).
    overwrite=True replaces a run already in run_dir (never a folder that is not a run). The
    other keywords (seed, num_seeds, backend, eval_every, checkpoint_every, num_devices) are
    the CLI's flags of those names (`python -m flowrl_mjx.launch --helpfull`).

    wandb_project (with wandb_entity, wandb_group optional) also logs each row's finite
    scalars and the settings to Weights & Biases (`pip install -e ".[wandb]"`; WANDB_MODE=offline
    without a network); a resume logs to the same W&B run. Several seeds: one W&B run per seed,
    grouped under the run dir's name unless wandb_group is given.

    Raises ValueError (a one-line message, what the CLI prints after `error:`) for an unknown
    task or setting, an impossible config, or a run dir that cannot take the run, before
    anything compiles.
    """
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        names = [*FIELDS, *inspect.signature(train).parameters]  # a misspelt keyword too
        hints = {k: difflib.get_close_matches(k, names, n=3) for k in unknown}
        said = [f"{k} (did you mean: {', '.join(h)}?)" if h else k for k, h in hints.items()]
        raise ValueError(f"unknown setting(s) {', '.join(said)}")
    try:
        if not isinstance(task, str):
            raise ValueError(f"task must be a task name, got {task!r}")
        # plain ints, as the CLI's int flags give (a numpy int would not go into config.json)
        names = ("total_env_steps", "seed", "num_seeds", "num_devices", "eval_every",
                 "checkpoint_every")  # fmt: skip
        given = (total_env_steps, seed, num_seeds, num_devices, eval_every, checkpoint_every)
        total_env_steps, seed, num_seeds, num_devices, eval_every, checkpoint_every = map(
            _whole, names, given
        )
        overrides = {k: _typed(k, v) for k, v in overrides.items()}
        if resume:
            if not run_dir:
                raise ValueError("resume=True needs run_dir")
            run = resumed(os.fspath(run_dir))
            _check_resume(task, run, num_envs, preset, replay_ratio, overrides)
        else:
            if num_envs is not None:
                overrides["num_envs"] = _typed("num_envs", num_envs)
            cfg, loop, name = resolve(overrides, preset=preset, replay_ratio=replay_ratio,
                                      num_seeds=num_seeds, backend=backend,
                                      num_devices=num_devices,
                                      total_env_steps=total_env_steps)  # fmt: skip
            run = new_run(task, seed, name, backend, num_seeds, num_devices, cfg, loop)
        run = wandb_options(run, resume, wandb_project, wandb_entity, wandb_group)
        run = schedule(run, total_env_steps, eval_every, checkpoint_every)
        path = None if run_dir is None else os.fspath(run_dir)
        run, env, out = setup(run, path, resume, overwrite)
    except (ValueError, OSError) as e:  # one line, as the CLI prints it
        raise ValueError(" ".join(str(e).split())) from None
    status = start(run, env, out, resume)
    return RunResult(run_dir=out, status=status, config=run.config, loop=run.loop)


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple}


def _typed(key, value):
    """`value` as field `key`'s type, as the CLI's typed flags give it (an int for a float field
    becomes a float, a list a tuple), so both write the same config.json; else ValueError."""
    kind = _TYPES.get(FIELDS[key].type, FIELDS[key].type)
    integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if kind is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if kind is float and (integral or isinstance(value, (float, np.floating))):
        return float(value)
    if kind is int and integral:
        return int(value)
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise ValueError(f"{key} takes a {kind.__name__}, got {value!r}")


def _whole(name, value) -> int:
    """An int from an int or a whole float (2e4 reads naturally in a notebook)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def _check_resume(task, stored: RunConfig, num_envs, preset, replay_ratio, overrides) -> None:
    """A resume trains with the stored settings; say so rather than ignore what was asked."""
    if task != stored.task:
        raise ValueError(f"resume: the run dir holds a {stored.task} run, not {task}")
    given = [k for k, v in (("num_envs", num_envs), ("preset", preset),
                            ("replay_ratio", replay_ratio)) if v is not None]  # fmt: skip
    given += sorted(overrides)
    if given:
        raise ValueError(
            f"resume continues with the stored settings; drop {', '.join(given)} "
            "(only total_env_steps applies)"
        )


# --- load_run ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    """A run dir read back: `load_run(run_dir)`.

    metrics: the metrics.jsonl rows (dicts: env_steps, wall_time, perf/sps, train/*, loss
    metrics and, at evaluated epochs, eval/return_stochastic (the official FlowRL protocol) and
    eval/return_deterministic), oldest first. For a multi-seed run dir (num_seeds > 1, one
    run dir per seed in seed_<s>/) it is a dict {seed: rows}, and `seeds` lists the seeds.
    """

    run_dir: str
    settings: dict  # config.json as stored: the run's settings and the record of the machine
    run: RunConfig  # the run's settings, typed
    config: Config
    loop: train_lib.LoopConfig
    metrics: object  # list of row dicts; {seed: list of row dicts} for several seeds
    summary: object  # summary.json ({"status", "final"}), or None while the run has not ended

    @property
    def multi_seed(self) -> bool:
        return isinstance(self.metrics, dict)

    @property
    def seeds(self) -> tuple:
        """The training seeds whose outputs the dir holds."""
        return tuple(self.metrics) if self.multi_seed else (self.run.seed,)

    @property
    def status(self):
        """How the run ended (summary.json), or None while it runs or if it was killed."""
        return None if self.summary is None else self.summary.get("status")

    @property
    def final(self) -> dict:
        """The last log row ({seed: row} for several seeds); {} before the first log point."""
        if self.summary is not None:
            return self.summary.get("final", {})
        if self.multi_seed:
            return {s: rows[-1] for s, rows in self.metrics.items() if rows}
        return self.metrics[-1] if self.metrics else {}

    def rows(self, seed=None) -> list:
        """One seed's rows (`seed` may be omitted for a single-seed run)."""
        if not self.multi_seed:
            if seed not in (None, self.run.seed):
                raise ValueError(f"{self.run_dir} holds seed {self.run.seed}, not {seed}")
            return self.metrics
        if seed not in self.metrics:
            raise ValueError(f"{self.run_dir} holds seeds {list(self.metrics)}; pass seed=")
        return self.metrics[seed]

    def column(self, name: str, seed=None) -> np.ndarray:
        """Metric `name` over the log rows as float64, NaN where a row lacks it (eval metrics
        exist only at evaluated epochs, see eval_every). Several seeds and no `seed`: an array
        (seeds, rows)."""
        if self.multi_seed and seed is None:
            cols = [self.column(name, s) for s in self.seeds]
            if len({len(c) for c in cols}) > 1:
                raise ValueError(f"the seeds of {self.run_dir} logged different row counts")
            return np.stack(cols) if cols else np.zeros((0, 0))
        return np.array([row.get(name, np.nan) for row in self.rows(seed)], dtype=np.float64)

    def policy(self, deterministic: bool = True, seed: int = 0, run_seed=None):
        """flowrl_mjx.load_policy of this run: act(obs) -> action. run_seed picks a member of a
        multi-seed run; `seed` seeds the noise a0 of a stochastic policy, as in load_policy."""
        from flowrl_mjx.runtime.policy_io import load_policy

        if not self.multi_seed:
            self.rows(run_seed)  # checks run_seed, if given, is this run's
            return load_policy(self.run_dir, deterministic, seed)
        if run_seed not in self.metrics:
            raise ValueError(f"{self.run_dir} holds seeds {list(self.metrics)}; pass run_seed=")
        base, n = self.run.seed, len(self.metrics)
        member = mjx_backend.member_dirs(self.run_dir, base, n)[run_seed - base]
        return load_policy(member, deterministic, seed)


def load_run(run_dir) -> Run:
    """Reads a run dir written by `train` or the CLI (finished, stopped or still running).
    Raises ValueError with one line when the folder holds no run of ours."""
    path = os.fspath(run_dir)
    if not run_files.holds_run(path):
        raise ValueError(f"{path} holds no run (no config.json of flowrl_mjx)")
    settings = run_files.load_settings(path)
    run = run_config.load(path)
    n = run.num_seeds
    if n > 1:  # mjx_backend.member_dirs' layout: seeds seed..seed+n-1 in seed_<s>/
        members = mjx_backend.member_dirs(path, run.seed, n)
        metrics = {run.seed + i: _read_rows(d) for i, d in enumerate(members)}
    else:
        metrics = _read_rows(path)
    summary = _read_json(os.path.join(path, "summary.json"))
    if summary is not None and n > 1:  # JSON object keys are strings; seeds are ints
        summary = dict(summary, final={int(k): v for k, v in summary.get("final", {}).items()})
    return Run(run_dir=path, settings=settings, run=run, config=run.config, loop=run.loop,
               metrics=metrics,
               summary=summary)  # fmt: skip


def _read_rows(path) -> list:
    """metrics.jsonl's rows; none before the first log point. A line cut short by a killed
    process (the last one) is skipped: every complete row is still good."""
    rows = []
    try:
        with open(os.path.join(path, "metrics.jsonl")) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return rows


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
