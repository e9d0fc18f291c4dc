"""The host loop around the jitted epoch: evaluate, log, checkpoint, resume, stop cleanly.

Nothing here runs inside the training program; per epoch the host reads a few scalars, logs them
and, every `checkpoint_every` epochs (and on SIGINT/SIGTERM, and at the end), saves everything
needed to continue exactly: TrainState (agent, replay, env states, keys) and the loop's own state.
"""

import functools
import signal
import time

import jax
import numpy as np

from envs.wrappers import VecEnv
from flowrl_mjx import checkpoint, policy_io, run_dir, train
from flowrl_mjx.evaluation import make_evaluate
from flowrl_mjx.networks import make_networks


class _StopFlag:
    """Set by SIGINT/SIGTERM; the loop saves and exits after the current epoch."""

    def __init__(self):
        self.signal = None
        self._previous = {s: signal.signal(s, self._set) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _set(self, signum, _frame):
        self.signal = signal.Signals(signum).name


@functools.lru_cache(maxsize=4)
def programs(cfg, loop, env):
    """(VecEnv, jitted epoch, jitted evaluate), built once per (config, env) in a process."""
    venv = VecEnv(env, loop.num_envs)
    nets = make_networks(cfg, env.observation_size, env.action_size)
    evaluate = make_evaluate(cfg, env, nets, loop.num_eval_envs, env.episode_length)
    return venv, train.make_epoch(cfg, loop, venv), evaluate


def run(settings: dict, cfg, loop, env, out: str, resume: bool, checkpoint_every: int,
        eval_every: int) -> dict:  # fmt: skip
    """Trains to settings['total_env_steps']; returns the final log row."""
    venv, epoch, evaluate = programs(cfg, loop, env)
    ckpt = checkpoint.Checkpoints(out)
    key, key_eval = jax.random.split(jax.random.PRNGKey(settings["seed"]))
    ts, start_epoch, wall0 = None, 0, 0.0
    if resume:
        abstract = jax.eval_shape(lambda k: train.init(k, cfg, loop, venv), key)
        restored = ckpt.restore_latest(abstract)
        if restored is None:
            raise ValueError(f"--resume: no readable checkpoint in {out}/checkpoints")
        ts, meta = restored
        ts = train.place(ts)
        start_epoch, wall0 = meta["epoch"], meta["wall_time"]
    else:
        ts = train.init(key, cfg, loop, venv)
    log = run_dir.RunLog(out, settings, env, resume_steps=int(ts.env_steps) if resume else None)
    per_epoch = loop.num_envs * loop.iters_per_epoch
    n_epochs = -(-settings["total_env_steps"] // per_epoch)
    stop, start = _StopFlag(), time.time() - wall0
    status = "finished"
    for i in range(start_epoch, n_epochs):
        ts, metrics = epoch(ts)
        metrics = {k: float(v) for k, v in metrics.items()}
        bad = [k for k, v in metrics.items() if not k.startswith("train/") and not np.isfinite(v)]
        if bad:
            status = f"stopped: non-finite {', '.join(bad)} at epoch {i}; last good checkpoint kept"
            break
        if (i + 1) % eval_every == 0 or i + 1 == n_epochs:
            k = jax.random.fold_in(key_eval, i)  # a function of the epoch: same after a resume
            metrics.update({n: float(v) for n, v in evaluate(ts.agent.params.actor, k).items()})
        log.write(int(ts.env_steps), metrics, start, settings["total_env_steps"])
        last = i + 1 == n_epochs
        if stop.signal or last or (i + 1) % checkpoint_every == 0:
            meta = dict(epoch=i + 1, wall_time=time.time() - start)
            ckpt.save(int(ts.env_steps), ts, meta)
            policy_io.save_actor(out, ts.agent.params.actor)
        if stop.signal:
            status = f"interrupted by {stop.signal}; checkpoint saved, continue with --resume"
            break
    stop.restore()
    ckpt.close()
    log.close(status=status)
    print(status, flush=True)
    if status.startswith("stopped"):
        raise SystemExit(f"error: {status}")
    return log.last
