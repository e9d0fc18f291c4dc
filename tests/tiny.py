"""The small training setup shared by the training-program tests (one compile per process)."""

import dataclasses
import functools
import json
import os

import envs
from flowrl_mjx.algorithm import train
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.runtime import mjx_backend, run_dir, runner
from flowrl_mjx.runtime.run_config import RunConfig

TASK = "cartpole_balance"
CFG = Config(actor_hidden=(16, 16), critic_hidden=(16, 16), value_hidden=(16, 16), batch_size=8,
             replay_size=256, recent_window=32, warmup_steps=8)  # fmt: skip
CFG_OBS_NORM = dataclasses.replace(CFG, obs_norm=True)  # the obs_norm extension's tests
# One call per epoch (the accelerator default): the tests that call the epoch directly and the
# runner's share one compiled program. LOOP_CALLS: the CPU default, one iteration per call.
LOOP = train.LoopConfig(num_envs=2, iters_per_epoch=4, iters_per_call=4, num_eval_envs=2)
LOOP_CALLS = train.LoopConfig(num_envs=2, iters_per_epoch=4, num_eval_envs=2)
PER_EPOCH = LOOP.num_envs * LOOP.iters_per_epoch


@functools.cache
def env():
    return envs.load(TASK, episode_length=20)


def programs(cfg=CFG):
    """(VecEnv, jitted epoch, jitted evaluate), shared with the runner's own cache."""
    return mjx_backend.programs(cfg, LOOP, env())


def run_config(epochs, seed=3, num_seeds=1, num_devices=1, cfg=CFG, loop=LOOP) -> RunConfig:
    """What launch passes runner.run for a tiny run of `epochs` epochs, evaluating and
    checkpointing every epoch."""
    return RunConfig(task=TASK, config=cfg, loop=loop, seed=seed, preset="test",
                     total_env_steps=epochs * PER_EPOCH, num_seeds=num_seeds,
                     num_devices=num_devices, eval_every=1, checkpoint_every=1,
                     obs_size=env().observation_size,
                     action_size=env().action_size)  # fmt: skip


def run(path, epochs, seed=3, resume=False, num_seeds=1, num_devices=1, cfg=CFG,
        loop=LOOP) -> tuple:  # fmt: skip
    """A tiny training run through runner.run (checkpoint and eval every epoch): (run dir,
    the status runner.run returned)."""
    out = run_dir.prepare(str(path), TASK, seed, resume)
    run = run_config(epochs, seed, num_seeds, num_devices, cfg, loop)
    status = runner.run(run, env(), out, resume)
    return out, status


def train_run(path, epochs, seed=3, resume=False, num_seeds=1, num_devices=1, cfg=CFG) -> str:
    """A tiny training run through runner.run (checkpoint and eval every epoch); its run dir."""
    return run(path, epochs, seed, resume, num_seeds, num_devices, cfg)[0]


def metrics(out) -> list:
    """The rows of a run dir's metrics.jsonl."""
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]
