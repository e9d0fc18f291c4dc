"""The host loop of `--backend dm_control`: real dm_control envs, the same FlowRL learner.

Per iteration: the pool (flowrl_mjx.dmc_backend.host_env) steps every env with the pending actions,
then one jitted `learn_and_act` call (flowrl_mjx.dmc_backend.host_train) inserts the transitions,
runs K updates and returns the next actions. Everything around it matches
flowrl_mjx.runtime.runner: one log point per `iters_per_epoch` iterations with the same metric keys
(plus `perf/host_env_fraction`, the share of wall time spent stepping dm_control), evaluation in
dm_control episodes (deterministic and stochastic), orbax checkpoints, policy.msgpack,
summary.json, a clean stop on SIGINT/SIGTERM after the current iteration (a stop inside an epoch
logs that part of it and checkpoints there; the resumed run does the epoch's remaining iterations,
so its log has one extra row).

Resume restores the learner exactly (agent, replay, key, step count) but not the envs: dm_control
env states (physics, task RNG) are not checkpointed, so a resumed run starts fresh episodes (task
seeds drawn from the resumed epoch). It continues, but not bit-for-bit like an uninterrupted run.
"""

import time
import types

import jax
import numpy as np

from flowrl_mjx.algorithm import agent
from flowrl_mjx.algorithm import metrics as metric_rules
from flowrl_mjx.algorithm.replay import Transition
from flowrl_mjx.dmc_backend import host_env, host_train
from flowrl_mjx.runtime import checkpoint, policy_io, run_dir, runner


class _Tracker:
    """Host-side episode statistics of the training envs (what VecEnv's info counters hold)."""

    def __init__(self, num_envs: int):
        self.last_return = np.full(num_envs, np.nan)
        self.nan_resets = np.zeros(num_envs, np.int64)
        self.reward_sum, self.reward_count, self.env_time = 0.0, 0, 0.0

    def add(self, step: host_env.HostStep):
        done = step.ended & (step.valid > 0)
        self.last_return = np.where(done, step.episode_return, self.last_return)
        self.nan_resets += step.valid == 0
        self.reward_sum += float(np.sum(step.reward))
        self.reward_count += step.reward.size

    def epoch_metrics(self, rows: list, wall: float) -> dict:
        """train/* as the MJX epoch reports them; the learner's metrics averaged over rows."""
        rows = jax.device_get(rows)
        out = {k: float(rows[-1][k]) if metric_rules.keeps_last(k) else
               float(np.mean([r[k] for r in rows])) for k in rows[0]}  # fmt: skip
        finished = self.last_return[np.isfinite(self.last_return)]
        out.update({
            "train/reward": self.reward_sum / max(self.reward_count, 1),
            "train/episode_return": float(np.mean(finished)) if finished.size else float("nan"),
            "train/nan_resets": float(np.sum(self.nan_resets)),
            "perf/host_env_fraction": self.env_time / max(wall, 1e-9),
        })  # fmt: skip
        self.reward_sum, self.reward_count, self.env_time = 0.0, 0, 0.0
        return out


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


def _restore(ckpt, out, key, cfg, obs_size, action_size):
    abstract = jax.eval_shape(lambda k: host_train.init(k, cfg, obs_size, action_size), key)
    restored = ckpt.restore_latest(abstract, legacy=agent.legacy_layouts(abstract))
    if restored is None:
        raise checkpoint.ResumeError(f"--resume: no readable checkpoint in {out}/checkpoints")
    state, meta = restored
    return host_train.place(state), meta["epoch"], meta["wall_time"], meta.get("partial_iters", 0)


def _dm_model(task: str, seed: int):
    """What RunLog needs to write model.mjb: here the dm_control model the run steps."""
    group = host_env.host_group.EnvGroup(task, [seed])
    return types.SimpleNamespace(mj_model=group.envs[0].physics.model.ptr)


class _Run:
    """What one training run holds: programs, pools, log, checkpoints (the loop's context)."""

    def __init__(self, settings, cfg, loop, env, out, resume):
        self.settings, self.loop, self.length = settings, loop, env.episode_length
        task, seed = settings["task"], settings["seed"]
        obs_size, action_size = settings["obs_size"], settings["action_size"]
        self.prog = host_train.programs(cfg, loop.num_envs, obs_size, action_size)
        self.ckpt = checkpoint.Checkpoints(out)
        key, self.key_eval = jax.random.split(jax.random.PRNGKey(seed))
        self.state, self.start_epoch, wall0 = host_train.init(key, cfg, obs_size, action_size), 0, 0
        self.partial_iters = 0  # iterations of epoch start_epoch done before a stop inside it
        if resume and not self.ckpt.steps():
            print(run_dir.restart_line(out), flush=True)
            resume = False
        if resume:
            self.state, self.start_epoch, wall0, self.partial_iters = _restore(
                self.ckpt, out, key, cfg, obs_size, action_size)  # fmt: skip
            steps = int(self.state.env_steps)
            print(runner.resumed_line(out, steps, self.start_epoch), flush=True)
        self.pool = host_env.HostEnvPool(task, loop.num_envs, seed, self.length,
                                         epoch=self.start_epoch)  # fmt: skip
        self.eval_pool = host_env.HostEnvPool(task, loop.num_eval_envs, seed, self.length,
                                              stream=host_env.EVAL)  # fmt: skip
        if (self.pool.obs_size, self.pool.action_size) != (obs_size, action_size):
            self.close()
            raise ValueError(
                f"dm_control {task}: obs/action sizes {self.pool.obs_size}/"
                f"{self.pool.action_size} differ from {obs_size}/{action_size}"
            )
        settings = dict(settings, backend="dm_control", host_workers=self.pool.num_workers)
        self.log = run_dir.RunLog(
            out,
            settings,
            None if resume else _dm_model(task, seed),
            resume_steps=int(self.state.env_steps) if resume else None,
        )
        self.out, self.start = out, time.time() - wall0

    def close(self):
        self.pool.close()
        self.eval_pool.close()
        self.ckpt.close()

    def epoch(self, tracker, obs, action, iters: int, stop):
        """Up to `iters` iterations, fewer when a stop signal arrives (it is checked after each);
        returns (obs, action, metrics, iterations done)."""
        rows, t_epoch = [], time.time()
        for _ in range(iters):
            t0 = time.perf_counter()
            step = self.pool.step(np.asarray(action))
            tracker.env_time += time.perf_counter() - t0
            batch = Transition(obs=obs, action=action, reward=step.reward, discount=step.discount,
                               next_obs=step.next_obs, valid=step.valid)  # fmt: skip
            self.state, action, metrics = self.prog.learn_and_act(self.state, batch, step.obs)
            tracker.add(step)
            rows.append(metrics)
            obs = step.obs
            if stop.signal:
                break
        return obs, action, tracker.epoch_metrics(rows, time.time() - t_epoch), len(rows)

    def save(self, epoch: int, partial_iters: int = 0):
        meta = dict(epoch=epoch, wall_time=time.time() - self.start, partial_iters=partial_iters)
        self.ckpt.save(int(self.state.env_steps), self.state, meta)
        policy_io.save_actor(self.out, self.state.agent.params.actor, self.state.agent.obs_norm)


def run(settings: dict, cfg, loop, env, out: str, resume: bool, checkpoint_every: int,
        eval_every: int) -> str:  # fmt: skip
    """Trains to settings['total_env_steps'] on dm_control; returns the status, as runner.run.

    `env` (the task's MJX env) supplies the episode length, so its overrides apply here too.
    resume: continue from the newest checkpoint, or from zero when the run has none yet.
    """
    r = _Run(settings, cfg, loop, env, out, resume)
    stop = runner.StopFlag()
    try:
        status = _loop(r, stop, checkpoint_every, eval_every)
    finally:
        stop.restore()
        r.close()
    r.log.close(status=status)
    print(status, flush=True)
    return status


def _loop(r: _Run, stop, checkpoint_every: int, eval_every: int) -> str:
    per_epoch = r.loop.num_envs * r.loop.iters_per_epoch
    total = r.settings["total_env_steps"]
    n_epochs = -(-total // per_epoch)
    tracker = _Tracker(r.loop.num_envs)
    obs = r.pool.reset()
    r.state, action = r.prog.start(r.state, obs)
    done_before = r.partial_iters
    for i in range(r.start_epoch, n_epochs):
        todo = r.loop.iters_per_epoch - done_before
        obs, action, metrics, done = r.epoch(tracker, obs, action, todo, stop)
        bad = [k for k, v in metrics.items() if metric_rules.stops_run(k) and not np.isfinite(v)]
        if bad:
            return f"stopped: non-finite {', '.join(bad)} at epoch {i}; last good checkpoint kept"
        if done < todo:  # stopped inside the epoch: log and keep what it did; resume finishes it
            r.log.write(int(r.state.env_steps), metrics, r.start, total)
            r.save(i, partial_iters=done_before + done)
            return f"interrupted by {stop.signal}; checkpoint saved, continue with --resume"
        done_before = 0
        if (i + 1) % eval_every == 0 or i + 1 == n_epochs:
            k = jax.random.fold_in(r.key_eval, i)  # a function of the epoch: same after a resume
            metrics.update(evaluate(r.prog, r.state.agent, r.eval_pool, k, r.length))
        r.log.write(int(r.state.env_steps), metrics, r.start, total)
        if stop.signal or i + 1 == n_epochs or (i + 1) % checkpoint_every == 0:
            r.save(i + 1)
        if stop.signal:
            return f"interrupted by {stop.signal}; checkpoint saved, continue with --resume"
    return "finished"
