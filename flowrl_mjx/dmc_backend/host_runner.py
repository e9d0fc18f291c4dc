"""The backend of `--backend dm_control`: real dm_control envs, the same FlowRL learner, the
same loop (flowrl_mjx.runtime.runner).

One call is one iteration: the pool (host_env.py) steps every env with the pending actions, then
one jitted `learn_and_act` call (host_train.py) inserts the transitions, runs K updates and
returns the next actions. The calls' metrics have the fused iteration's keys (train/* from the
host's episode statistics) plus `perf/host_env_fraction`, the share of wall time spent stepping
dm_control; evaluation runs dm_control episodes (deterministic and stochastic).

Resume restores the learner exactly (agent, replay, key, step count) but not the envs: dm_control
env states (physics, task RNG) are not checkpointed, so a resumed run starts fresh episodes (task
seeds drawn from the resumed epoch). It continues, but not bit-for-bit like an uninterrupted run.
"""

import time
import types

import jax
import numpy as np

from flowrl_mjx.algorithm import agent
from flowrl_mjx.algorithm.replay import Transition
from flowrl_mjx.dmc_backend import host_env, host_train
from flowrl_mjx.runtime import checkpoint, policy_io
from flowrl_mjx.runtime.run_config import RunConfig


class _Tracker:
    """Host-side episode statistics of the training envs (what VecEnv's info counters hold)."""

    def __init__(self, num_envs: int):
        self.last_return = np.full(num_envs, np.nan)
        self.nan_resets = np.zeros(num_envs, np.int64)

    def add(self, step: host_env.HostStep) -> dict:
        """The iteration's train/* figures as the fused iteration reports them."""
        done = step.ended & (step.valid > 0)
        self.last_return = np.where(done, step.episode_return, self.last_return)
        self.nan_resets += step.valid == 0
        finished = self.last_return[np.isfinite(self.last_return)]
        return {
            "train/reward": np.float32(np.mean(step.reward)),
            "train/episode_return": np.float32(np.mean(finished) if finished.size else np.nan),
            "train/nan_resets": np.float32(np.sum(self.nan_resets)),
        }


def _policy(prog, agent_state, key, deterministic: bool):
    """act(obs) -> np actions for run_episodes, drawing a fresh key per step."""
    counter = [0]
    actor, stats = agent_state.params.actor, agent_state.obs_norm

    def act(obs):
        counter[0] += 1
        k = jax.random.fold_in(key, counter[0])
        return np.asarray(prog.act(actor, stats, obs, k, deterministic))

    return act


def evaluate(prog, agent_state, pool, key, episode_length: int) -> dict:
    """The MJX evaluation's metrics (flowrl_mjx.algorithm.evaluation), from dm_control episodes,
    acting as the agent state's actor (on observations normalised by its statistics under
    obs_norm)."""
    det, bad_det = host_env.run_episodes(
        pool, _policy(prog, agent_state, key, True), episode_length
    )
    sto, bad_sto = host_env.run_episodes(
        pool, _policy(prog, agent_state, key, False), episode_length
    )
    return {
        "eval/return_deterministic": float(np.mean(det)),
        "eval/return_deterministic_std": float(np.std(det)),
        "eval/return_stochastic": float(np.mean(sto)),
        "eval/return_stochastic_std": float(np.std(sto)),
        "eval/nonfinite_episodes": float(bad_det + bad_sto),
    }


def _dm_model(task: str, seed: int):
    """What RunLog needs to write model.mjb: here the dm_control model the run steps."""
    group = host_env.host_group.EnvGroup(task, [seed])
    return types.SimpleNamespace(mj_model=group.envs[0].physics.model.ptr)


class DmcBackend:
    """The runner's backend for `--backend dm_control`: one call is one iteration (the pool steps
    every env, then one jitted learn_and_act call), evaluation runs dm_control episodes (see
    flowrl_mjx.runtime.runner for what each method owes the loop). One seed per run."""

    def __init__(self, run: RunConfig, env, out: str, resume: bool):
        self.run, self.n, self.dirs, self.runs = run, 1, [out], [run]
        self.length, loop = env.episode_length, run.loop
        self.calls_per_epoch = loop.iters_per_epoch
        self.prog = host_train.programs(run.config, loop.num_envs, run.obs_size, run.action_size)
        self.ckpt = checkpoint.Checkpoints(out)
        self.key, self.key_eval = jax.random.split(jax.random.PRNGKey(run.seed))
        self.pool = self.eval_pool = None
        self.record = {}

    def compile_line(self, resume: bool) -> str:
        return (
            f"compiling the learner: one call per iteration of {self.run.loop.num_envs} "
            f"dm_control envs, {self.calls_per_epoch} call(s) per log point ..."
        )

    def has_checkpoint(self) -> bool:
        return bool(self.ckpt.steps())

    def model(self):
        return _dm_model(self.run.task, self.run.seed)

    def start(self, resume: bool) -> checkpoint.Start:
        """The learner (fresh or restored) and fresh dm_control envs: their states are not
        checkpointed, so a resumed run starts new episodes with task seeds of the resumed epoch."""
        run, loop = self.run, self.run.loop
        sizes = (run.obs_size, run.action_size)
        start = checkpoint.Start()
        if resume:
            self.state, meta = self._restore()
            start = checkpoint.Start.from_meta(meta)
        else:
            self.state = host_train.init(self.key, run.config, *sizes)
        self.pool = host_env.HostEnvPool(run.task, loop.num_envs, run.seed, self.length,
                                         epoch=start.epoch)  # fmt: skip
        self.eval_pool = host_env.HostEnvPool(run.task, loop.num_eval_envs, run.seed, self.length,
                                              stream=host_env.EVAL)  # fmt: skip
        if (self.pool.obs_size, self.pool.action_size) != sizes:
            raise ValueError(
                f"dm_control {run.task}: obs/action sizes {self.pool.obs_size}/"
                f"{self.pool.action_size} differ from {sizes[0]}/{sizes[1]}"
            )
        self.record = dict(host_workers=self.pool.num_workers)
        self.tracker = _Tracker(loop.num_envs)
        self.obs = self.pool.reset()
        self.state, self.action = self.prog.start(self.state, self.obs)
        return start

    def _restore(self):
        run = self.run
        abstract = jax.eval_shape(
            lambda k: host_train.init(k, run.config, run.obs_size, run.action_size), self.key
        )
        fresh = lambda: host_train.init(self.key, run.config, run.obs_size, run.action_size)
        state, meta = self.ckpt.resume(
            abstract, legacy=agent.legacy_layouts(abstract), defaults=fresh
        )
        return host_train.place(state), meta

    @property
    def env_steps(self) -> int:
        return int(self.state.env_steps)

    def call(self) -> dict:
        """One iteration: dm_control steps with the pending actions, then the learner inserts,
        updates and picks the next actions. perf/host_env_fraction: the share of the call's wall
        time spent stepping dm_control."""
        t_call = time.perf_counter()
        step = self.pool.step(np.asarray(self.action))
        env_time = time.perf_counter() - t_call
        batch = Transition(obs=self.obs, action=self.action, reward=step.reward,
                           discount=step.discount, next_obs=step.next_obs,
                           valid=step.valid)  # fmt: skip
        self.state, self.action, metrics = self.prog.learn_and_act(self.state, batch, step.obs)
        self.obs = step.obs
        metrics = dict(jax.device_get(metrics), **self.tracker.add(step))
        metrics["perf/host_env_fraction"] = env_time / max(time.perf_counter() - t_call, 1e-9)
        return metrics

    def evaluate(self, epoch: int) -> dict:
        key = jax.random.fold_in(self.key_eval, epoch)  # a function of the epoch: same on resume
        return evaluate(self.prog, self.state.agent, self.eval_pool, key, self.length)

    def save(self, meta: dict) -> None:
        self.ckpt.save(int(self.state.env_steps), self.state, meta)
        policy_io.save_actor(self.dirs[0], self.state.agent.params.actor,
                             self.state.agent.obs_norm)  # fmt: skip

    def close(self) -> None:
        for pool in (self.pool, self.eval_pool):
            if pool is not None:
                pool.close()
        self.ckpt.close()
