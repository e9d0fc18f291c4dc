"""The small training setup shared by the training-program tests (one compile per process)."""

import functools

import envs
from flowrl_mjx import runner, train
from flowrl_mjx.config import Config

TASK = "cartpole_balance"
CFG = Config(actor_hidden=(16, 16), critic_hidden=(16, 16), value_hidden=(16, 16), batch_size=8,
             replay_size=256, recent_window=32, warmup_steps=8)  # fmt: skip
LOOP = train.LoopConfig(num_envs=2, iters_per_epoch=4, num_eval_envs=2)
PER_EPOCH = LOOP.num_envs * LOOP.iters_per_epoch


@functools.cache
def env():
    return envs.load(TASK, episode_length=20)


def programs():
    """(VecEnv, jitted epoch, jitted evaluate), shared with the runner's own cache."""
    return runner.programs(CFG, LOOP, env())
