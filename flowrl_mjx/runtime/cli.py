"""python -m flowrl_mjx.launch --task cheetah_run --num_envs 4096

Every field of flowrl_mjx.algorithm.config.Config and train.LoopConfig is a flag; a preset
(flowrl_mjx.algorithm.presets) supplies defaults, flags override it. --helpfull explains each one
(its doc comment in config.py / train.py) and ends with its value in every preset, at that preset's
own --num_envs (batch, K, warm-up, recent window and epoch length scale with it). Bad input (a
malformed or unknown flag included) stops before compilation with one line starting 'error:',
exit code 2.

--resume continues the run in --run_dir from its newest checkpoint and says at which env step;
a run stopped before its first checkpoint starts again from zero in its folder (it says so).
A new run needs a new or empty --run_dir.

After parsing, the CLI takes flowrl_mjx.runtime.api's steps (resolve, setup, start), the ones the
Python API's flowrl_mjx.run takes, so both build the same config and write the same run dir.

Exit codes: 0 finished (and --help/--helpfull); 2 bad input; 1 stopped on an error (a non-finite
loss); 130 / 143 interrupted by SIGINT / SIGTERM, after saving a checkpoint and summary.json.
"""

import signal
import sys

from absl import app, flags, logging

from flowrl_mjx.algorithm import presets, sharding, train
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.runtime import api, checkpoint, flag_help, runner
from flowrl_mjx.runtime import run_dir as run_files
from flowrl_mjx.runtime.api import FIELDS
from flowrl_mjx.runtime.cli_flags import UsageError, parse_flags, usage_exit

flags.DEFINE_string("task", "cheetah_run", "task name (see envs.names())")
flags.DEFINE_integer("seed", 0, "random seed")
flags.DEFINE_integer("total_env_steps", 1_000_000, "env steps to train for (all envs together)")
flags.DEFINE_string("run_dir", None, "output folder (default runs/<task>_s<seed>_<time>)")
flags.DEFINE_bool("resume", False, "continue the run in --run_dir from its last good checkpoint")
flags.DEFINE_bool("overwrite", False, "replace the run already in --run_dir (never another folder)")
flags.DEFINE_string("preset", None, f"one of {sorted(presets.PRESETS)} (default: by scale)")
flags.DEFINE_integer(
    "num_seeds",
    1,
    "independent seeds (seed, seed+1, ...) trained in one "
    "program, vmapped; per-seed outputs in run_dir/seed_<s>/",
)
flags.DEFINE_integer(
    "num_devices",
    1,
    "devices the envs and replay are split across (0: all visible; flowrl_mjx.algorithm.sharding)",
)
flags.DEFINE_string(
    "coordinator_address",
    None,
    "multi-host: host:port of process 0 "
    "(jax.distributed.initialize); with --num_processes and --process_id",
)
flags.DEFINE_integer("num_processes", None, "multi-host: number of processes")
flags.DEFINE_integer("process_id", None, "multi-host: this process's index")
flags.DEFINE_float(
    "replay_ratio",
    None,
    "samples drawn per stored transition; K (updates_per_iter) follows from it, the batch and "
    "num_envs (default: the preset's; flowrl_mjx.algorithm.presets)",
)
flags.DEFINE_integer("eval_every", 1, "evaluate every this many epochs")
flags.DEFINE_integer("checkpoint_every", 10, "checkpoint every this many epochs (and at the end)")
flags.DEFINE_enum("backend", "mjx", ["mjx", "dm_control"],
                  "mjx: envs inside the jitted program; dm_control: real dm_control envs stepped "
                  "on the host (flowrl_mjx.dmc_backend), same agent and outputs")  # fmt: skip
flags.DEFINE_string("wandb_project", None,
                    "also log to this Weights & Biases project (pip install -e '.[wandb]'; "
                    "WANDB_MODE=offline without a network); default: no W&B")  # fmt: skip
flags.DEFINE_string("wandb_entity", None, "W&B entity (user or team) of --wandb_project")
flags.DEFINE_string("wandb_group", None,
                    "W&B group (default: none; --num_seeds > 1: the run dir's name)")  # fmt: skip
_HELPS = flag_help.helps((Config, train.LoopConfig))  # doc comments + each preset's value
for _name, _f in FIELDS.items():
    if _f.type in ("tuple", tuple):
        flags.DEFINE_list(_name, None, f"{_HELPS[_name]}; comma-separated")
    elif _f.type in ("int", int):
        flags.DEFINE_integer(_name, None, _HELPS[_name])
    elif _f.type in ("float", float):
        flags.DEFINE_float(_name, None, _HELPS[_name])
    elif _f.type in ("bool", bool):  # --name / --noname; unset (None) keeps the preset's
        flags.DEFINE_bool(_name, None, _HELPS[_name])
    else:
        flags.DEFINE_string(_name, None, _HELPS[_name])
FLAGS = flags.FLAGS


def resolve():
    """(Config, LoopConfig, preset name) from defaults, the preset and the flags: api.resolve,
    the function flowrl_mjx.run builds a new run's config with."""
    overrides = {}
    for key in FIELDS:
        v = getattr(FLAGS, key)
        if v is not None:
            overrides[key] = _int_tuple(key, v) if isinstance(v, list) else v
    try:
        return api.resolve(overrides, preset=FLAGS.preset, replay_ratio=FLAGS.replay_ratio,
                           num_seeds=FLAGS.num_seeds, backend=FLAGS.backend,
                           num_devices=FLAGS.num_devices,
                           total_env_steps=FLAGS.total_env_steps)  # fmt: skip
    except ValueError as e:
        raise UsageError(str(e)) from None


def _int_tuple(key, values) -> tuple:
    try:
        return tuple(int(x) for x in values)
    except ValueError:
        given = ",".join(values)
        raise UsageError(f"--{key} takes comma-separated integers, got {given}") from None


def main(argv):
    """Ctrl-C before training starts (a long env load or compile) exits 130 with one line; once
    the loop runs, SIGINT/SIGTERM stop it cleanly (runner)."""
    try:
        _main()
    except KeyboardInterrupt:
        print("interrupted before training started", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGINT.value)


def _main():
    """The CLI's front end of flowrl_mjx.runtime.api: the settings from the flags (or the stored
    run's for --resume), then api's setup and start, the steps flowrl_mjx.run takes."""
    logging.set_verbosity(logging.WARNING)  # mjx logs every device lookup at INFO
    sharding.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    try:
        api.check_intervals(FLAGS.eval_every, FLAGS.checkpoint_every)
        if FLAGS.resume:
            run = resumed_run()
        else:
            cfg, loop, preset = resolve()
            run = api.new_run(FLAGS.task, FLAGS.seed, preset, FLAGS.backend, FLAGS.num_seeds,
                              FLAGS.num_devices, cfg, loop)  # fmt: skip
        run = api.wandb_options(run, FLAGS.resume, FLAGS.wandb_project, FLAGS.wandb_entity,
                                FLAGS.wandb_group)  # fmt: skip
        run = api.schedule(run, FLAGS.total_env_steps, FLAGS.eval_every, FLAGS.checkpoint_every)
        run, env, out = api.setup(run, FLAGS.run_dir, FLAGS.resume, FLAGS.overwrite)
    except (UsageError, ValueError, OSError) as e:
        usage_exit(e)
    try:
        status = api.start(run, env, out, FLAGS.resume)
    except (checkpoint.ResumeError, run_files.WandbError) as e:  # before training starts
        usage_exit(e)
    code = runner.exit_code(status)
    if code == 1:  # an error: say so where errors go (the status line is on stdout already)
        print(f"error: {status}", file=sys.stderr, flush=True)
    sys.exit(code)


def resumed_run():
    """The stored run; flags other than --total_env_steps and the cadence are not re-applied."""
    if not FLAGS.run_dir:
        raise UsageError("--resume needs --run_dir")
    return api.resumed(FLAGS.run_dir)


def run_main():
    """The process entry point (`python -m flowrl_mjx.launch`)."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run_main()
