"""python -m flowrl_mjx.launch --task cheetah_run --num_envs 4096

Every field of flowrl_mjx.config.Config and train.LoopConfig is a flag; a preset (flowrl_mjx.presets)
supplies defaults, flags override it. Bad input stops before compilation with one line, exit code 2.
"""

import dataclasses
import sys
import time

import jax
from absl import app, flags

import envs
from envs.wrappers import VecEnv
from flowrl_mjx import presets, run_dir, train
from flowrl_mjx.config import Config
from flowrl_mjx.evaluation import make_evaluate
from flowrl_mjx.networks import make_networks

FIELDS = {f.name: f for c in (Config, train.LoopConfig) for f in dataclasses.fields(c)}

flags.DEFINE_string("task", "cheetah_run", "task name (see envs.names())")
flags.DEFINE_integer("seed", 0, "random seed")
flags.DEFINE_integer("total_env_steps", 1_000_000, "env steps to train for (all envs together)")
flags.DEFINE_string("run_dir", None, "output folder (default runs/<task>_s<seed>_<time>)")
flags.DEFINE_bool("resume", False, "continue the run in --run_dir (checkpoints: not yet built)")
flags.DEFINE_string("preset", None, f"one of {sorted(presets.PRESETS)} (default: by scale)")
flags.DEFINE_integer("eval_every", 1, "evaluate every this many epochs")
for _name, _f in FIELDS.items():
    if _f.type in ("tuple", tuple):
        flags.DEFINE_list(_name, None, f"{_name} (comma-separated; default: preset / {_f.default})")
    elif _f.type in ("int", int):
        flags.DEFINE_integer(_name, None, f"default: preset / {_f.default}")
    elif _f.type in ("float", float):
        flags.DEFINE_float(_name, None, f"default: preset / {_f.default}")
    else:
        flags.DEFINE_string(_name, None, f"default: preset / {_f.default}")
FLAGS = flags.FLAGS


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def resolve():
    """(Config, LoopConfig, preset name) from defaults, the preset and the flags."""
    name = FLAGS.preset or presets.default_preset(FLAGS.num_envs, jax.default_backend())
    if name not in presets.PRESETS:
        raise UsageError(f"unknown preset {name!r}; valid: {', '.join(sorted(presets.PRESETS))}")
    values = dict(presets.PRESETS[name])
    for key in FIELDS:
        v = getattr(FLAGS, key)
        if v is not None:
            values[key] = tuple(int(x) for x in v) if isinstance(v, list) else v
    split = lambda cls: {k: v for k, v in values.items() if k in cls.__dataclass_fields__}  # noqa
    cfg, loop = Config(**split(Config)), train.LoopConfig(**split(train.LoopConfig))
    try:
        cfg.validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    for k in ("num_envs", "iters_per_epoch", "num_eval_envs"):
        if getattr(loop, k) < 1:
            raise UsageError(f"{k} must be positive, got {getattr(loop, k)}")
    if FLAGS.total_env_steps < loop.num_envs:
        raise UsageError(f"total_env_steps ({FLAGS.total_env_steps}) < num_envs ({loop.num_envs})")
    return cfg, loop, name


def check_memory(cfg, obs_size, action_size):
    """Replay (float32) must fit in device memory with room to spare; estimated, not measured."""
    need = cfg.replay_size * 4 * (2 * obs_size + action_size + 3)
    have = run_dir.device_memory_bytes()
    if have and need > 0.8 * have:
        raise UsageError(f"replay of {cfg.replay_size} transitions needs ~{need / 2**30:.1f} GiB, "
                         f"more than 80% of the device's {have / 2**30:.1f} GiB; lower --replay_size")


def main(argv):
    del argv
    try:
        cfg, loop, preset = resolve()
        env = envs.load(FLAGS.task)
        check_memory(cfg, env.observation_size, env.action_size)
        out = run_dir.prepare(FLAGS.run_dir, FLAGS.task, FLAGS.seed, FLAGS.resume)
    except (UsageError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    run(cfg, loop, preset, env, out)


def run(cfg, loop, preset, env, out):
    settings = dict(task=FLAGS.task, seed=FLAGS.seed, total_env_steps=FLAGS.total_env_steps,
                    preset=preset, config=dataclasses.asdict(cfg), loop=dataclasses.asdict(loop))
    log = run_dir.RunLog(out, settings, env)
    venv = VecEnv(env, loop.num_envs)
    key = jax.random.PRNGKey(FLAGS.seed)
    ts = train.init(key, cfg, loop, venv)
    epoch = train.make_epoch(cfg, loop, venv)
    nets = make_networks(cfg, env.observation_size, env.action_size)
    evaluate = make_evaluate(cfg, env, nets, loop.num_eval_envs, env.episode_length)
    per_epoch = loop.num_envs * loop.iters_per_epoch
    n_epochs = -(-FLAGS.total_env_steps // per_epoch)
    start = time.time()
    for i in range(n_epochs):
        ts, metrics = epoch(ts)
        metrics = {k: float(v) for k, v in metrics.items()}
        if not all(map(_finite, (v for k, v in metrics.items() if not k.startswith("train/e")))):
            log.close(status="stopped: non-finite loss")
            raise SystemExit(f"non-finite metric at epoch {i}: {metrics}")
        if (i + 1) % FLAGS.eval_every == 0 or i + 1 == n_epochs:
            key, k = jax.random.split(key)
            metrics.update({k2: float(v) for k2, v in evaluate(ts.agent.params.actor, k).items()})
        log.write(int(ts.env_steps), metrics, start, FLAGS.total_env_steps)
    log.close(status="finished")


def _finite(v):
    return v == v and abs(v) != float("inf")


if __name__ == "__main__":
    app.run(main)
