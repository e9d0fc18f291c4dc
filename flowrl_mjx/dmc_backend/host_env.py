"""Real dm_control environments stepped on the host: the env side of `--backend dm_control`.

`HostEnvPool(task, num_envs, seed)` holds `num_envs` dm_control suite envs (`envs.dmc.load`, so it
works headless) and steps them with actions in [-1, 1], returning what the MJX `VecEnv` returns
per transition (`HostStep`):
- `obs`: the observation to act on next (a fresh episode's first obs where one ended);
- `next_obs`: the true observation the step reached (the final obs of a finished episode), the
  one to bootstrap from;
- `discount`: dm_control's own: 0 at a task termination, 1 at the time limit (a truncation, which
  must bootstrap) and mid-episode;
- `valid`: 0 where MuJoCo diverged (dm_control raises PhysicsError) or the obs/reward is not
  finite; that env is reset and the transition must not be learned from.
Observations are dm_control's, flattened in key order (`envs.dmc.flat_obs`), as float32.

Where the envs run: in this process (`num_workers=0`) or split over worker processes (spawned,
one pipe each). A dm_control control step is cheap next to a pipe round trip, so workers only
pay once one step of all envs is slow, and at the presets' env counts stepping is a small share
of an iteration: the learner sets the pace (figures: results/perf_changes.md, "host_env.py").
So by default (`auto_workers`) the envs run in-process unless one step of all of them takes over
`WORKER_THRESHOLD_S` (20 ms), and then in min(cores, num_envs) workers.
Env i's task seed depends only on (seed, stream, epoch, i): results do not depend on the workers.
"""

import multiprocessing
import os
import signal
import time
import traceback
import warnings

import numpy as np

from flowrl_mjx.dmc_backend import host_group

# Independent seed streams: training envs, the runner's eval envs, flowrl_mjx.evaluate's envs.
TRAIN, EVAL, EVALUATE = 0, 1, 2
# Run envs in workers when one step of all of them would take longer than this in-process.
WORKER_THRESHOLD_S = 20e-3

HostStep = host_group.HostStep
split_task = host_group.split_task


def env_seeds(seed: int, num_envs: int, stream: int = TRAIN, epoch: int = 0) -> list:
    """Task seeds of envs 0..num_envs-1: a function of (seed, stream, epoch, i) only."""
    state = np.random.SeedSequence([seed, stream, epoch]).generate_state(num_envs)
    return [int(s) for s in state]


def auto_workers(task: str, num_envs: int, episode_length: int = 1000) -> int:
    """Worker processes to use: 0 unless stepping every env in-process is slow (see module doc).

    Times 20 steps of one probe env (its own seed, so no training env is touched).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores < 2 or num_envs < 2:
        return 0
    probe = host_group.EnvGroup(task, [0], episode_length)
    probe.reset()
    action = np.zeros((1, probe.action_size), np.float32)
    start = time.perf_counter()
    for _ in range(20):
        probe.step(action)
    per_env = (time.perf_counter() - start) / 20
    if per_env * num_envs < WORKER_THRESHOLD_S:
        return 0
    return min(cores, num_envs)


def _worker(conn, task, seeds, episode_length):
    """Serves ("reset" | "step" | "close", payload) requests for one EnvGroup."""
    # Ctrl-C reaches the whole process group; the parent handles it (checkpoint, then "close").
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        group = host_group.EnvGroup(task, seeds, episode_length)
        conn.send(("ok", (group.obs_size, group.action_size)))
        while True:
            cmd, payload = conn.recv()
            if cmd == "close":
                break
            out = group.reset() if cmd == "reset" else group.step(payload)
            conn.send(("ok", out))
    except (EOFError, KeyboardInterrupt):
        pass  # the parent went away or was interrupted: nothing left to serve
    except Exception:
        conn.send(("error", traceback.format_exc().strip().splitlines()[-1]))
    finally:
        conn.close()


class HostEnvPool:
    """num_envs dm_control envs with auto-reset; see the module doc for the outputs."""

    def __init__(self, task, num_envs, seed, episode_length=1000, num_workers=None,
                 stream=TRAIN, epoch=0):  # fmt: skip
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.task, self.num_envs = task, num_envs
        seeds = env_seeds(seed, num_envs, stream, epoch)
        if num_workers is None:
            num_workers = auto_workers(task, num_envs, episode_length)
        self.num_workers = min(num_workers, num_envs)
        self._group, self._conns, self._procs = None, [], []
        if self.num_workers == 0:
            self._group = host_group.EnvGroup(task, seeds, episode_length)
            self.obs_size, self.action_size = self._group.obs_size, self._group.action_size
        else:
            self._start_workers(seeds, episode_length)

    def _start_workers(self, seeds, episode_length):
        # spawn, not fork: the parent runs JAX, whose threads do not survive a fork.
        ctx = multiprocessing.get_context("spawn")
        self._chunks = np.array_split(np.arange(self.num_envs), self.num_workers)
        for chunk in self._chunks:
            parent, child = ctx.Pipe()
            args = (child, self.task, [seeds[i] for i in chunk], episode_length)
            proc = ctx.Process(target=_worker, args=args, daemon=True)
            with warnings.catch_warnings():
                # spawn is fork+exec of a fresh interpreter: JAX's fork warning does not apply.
                warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        sizes = self._gather()
        self.obs_size, self.action_size = sizes[0]

    def _gather(self) -> list:
        out = []
        for i, conn in enumerate(self._conns):
            try:
                status, payload = conn.recv()
            except EOFError:
                self.close()
                raise RuntimeError(f"host env worker {i} ({self.task}) exited") from None
            if status == "error":
                self.close()
                raise RuntimeError(f"host env worker {i} ({self.task}): {payload}")
            out.append(payload)
        return out

    def reset(self) -> np.ndarray:
        """Starts a new episode in every env; (num_envs, obs_size) float32 observations."""
        if self._group is not None:
            return self._group.reset()
        for conn in self._conns:
            conn.send(("reset", None))
        return np.concatenate(self._gather())

    def step(self, actions) -> HostStep:
        """Steps every env with actions (num_envs, action_size) in [-1, 1]."""
        actions = np.asarray(actions, np.float32)
        if actions.shape != (self.num_envs, self.action_size):
            raise ValueError(f"actions have shape {actions.shape}, "
                             f"expected {(self.num_envs, self.action_size)}")  # fmt: skip
        if self._group is not None:
            return self._group.step(actions)
        for conn, chunk in zip(self._conns, self._chunks, strict=True):
            conn.send(("step", actions[chunk]))
        return host_group.concat(self._gather())

    def close(self):
        for conn in self._conns:
            try:
                conn.send(("close", None))
                conn.close()
            except (OSError, BrokenPipeError):
                pass  # worker already gone
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_episodes(pool: HostEnvPool, act, episode_length: int):
    """One episode in every env of `pool` from a fresh reset: (returns, non-finite count).

    act(obs (n, obs_size)) -> actions (n, action_size) in [-1, 1]. An env's return stops at its
    first episode end (termination, time limit, or divergence, which is counted), as in the
    MJX evaluation (flowrl_mjx.algorithm.evaluation).
    """
    obs = pool.reset()
    total = np.zeros(pool.num_envs, np.float64)
    alive = np.ones(pool.num_envs, bool)
    bad = np.zeros(pool.num_envs, bool)
    for _ in range(episode_length):
        step = pool.step(act(obs))
        valid = step.valid > 0
        total += np.where(alive & valid, step.reward, 0.0)
        bad |= alive & ~valid
        alive &= ~step.ended
        if not alive.any():
            break
        obs = step.obs
    return total, int(bad.sum())
