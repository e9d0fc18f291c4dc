"""The host loop around the jitted epoch: evaluate, log, checkpoint, resume, stop cleanly.

Nothing here runs inside the training program; per epoch the host reads a few scalars, logs them
and, every `checkpoint_every` epochs (and on SIGINT/SIGTERM, and at the end), saves everything
needed to continue exactly: TrainState (agent, replay, env states, keys) and the loop's own state.
`run` returns its status line rather than exiting, so Python callers keep control; the CLI
(flowrl_mjx.launch) turns it into the process's exit code (`exit_code`).
"""

import dataclasses
import functools
import os
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np

from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import agent, seeds, sharding, train
from flowrl_mjx.algorithm import metrics as metric_rules
from flowrl_mjx.algorithm.evaluation import make_evaluate
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.runtime import checkpoint, policy_io, run_dir
from flowrl_mjx.runtime.machine import machine_info


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop saves and exits after the current call (this runner) or
    iteration (host_runner's)."""

    def __init__(self):
        self.signal = None
        self._previous = {s: signal.signal(s, self._set) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _set(self, signum, _frame):
        self.signal = signal.Signals(signum).name


def programs(cfg, loop, env, num_seeds: int = 1, num_devices: int = 1):
    """(VecEnv, jitted epoch, jitted evaluate), built once per (config, env, seeds, devices) in a
    process. num_seeds > 1: both vmapped over seeds (algorithm/seeds.py); num_devices != 1: the
    epoch compiled for the envs and replay split across devices (algorithm/sharding.py)."""
    return _programs(cfg, loop, env, num_seeds, num_devices)  # one cache key however called


@functools.lru_cache(maxsize=4)
def _programs(cfg, loop, env, num_seeds: int, num_devices: int):
    venv = VecEnv(env, loop.num_envs)
    nets = make_networks(cfg, env.observation_size, env.action_size)
    evaluate = make_evaluate(cfg, env, nets, loop.num_eval_envs, env.episode_length)
    if num_seeds > 1:
        return venv, seeds.make_epoch(cfg, loop, venv), seeds.make_evaluate(evaluate)
    if num_devices != 1:
        epoch = layout(cfg, loop, env, num_devices).make_epoch(cfg, loop, venv)
        return venv, epoch, evaluate
    return venv, train.make_epoch(cfg, loop, venv), evaluate


@functools.lru_cache(maxsize=4)
def layout(cfg, loop, env, num_devices: int) -> sharding.Layout:
    mesh = sharding.make_mesh(num_devices)
    sharding.check_divisible(mesh, loop.num_envs, cfg.replay_size)
    venv = VecEnv(env, loop.num_envs)
    abstract = jax.eval_shape(lambda k: train.init(k, cfg, loop, venv), jax.random.PRNGKey(0))
    return sharding.Layout(mesh, abstract, loop.num_envs)


def member_dirs(out: str, seed: int, num_seeds: int) -> list:
    """Where each seed's outputs go: the run dir itself, or one complete run dir per seed."""
    if num_seeds == 1:
        return [out]
    return [os.path.join(out, f"seed_{seed + i}") for i in range(num_seeds)]


class _Members:
    """Per-seed outputs (run dir, log, checkpoints); seed i of a stacked state is member i."""

    def __init__(self, settings, out, resume):
        self.n, seed = settings.get("num_seeds", 1), settings["seed"]
        self.dirs = member_dirs(out, seed, self.n)
        if self.n > 1:
            for d in self.dirs:
                run_dir.prepare(d, settings["task"], seed, resume)
            if not resume:
                run_dir.write_json(out, "config.json", dict(settings, machine=machine_info()))
        wandb = run_dir.wandb_member(settings.get("wandb"), out, self.n)
        self.settings = [dict(settings, seed=seed + i, num_seeds=1, wandb=wandb)
                         for i in range(self.n)]  # fmt: skip
        keys = [jax.random.split(jax.random.PRNGKey(seed + i)) for i in range(self.n)]
        self.keys, self.eval_keys = [k[0] for k in keys], [k[1] for k in keys]
        self.ckpts = [checkpoint.Checkpoints(d) for d in self.dirs]

    def state(self, ts, i):
        return ts if self.n == 1 else seeds.member(ts, i)

    def init(self, cfg, loop, venv):
        if self.n == 1:
            return train.init(self.keys[0], cfg, loop, venv)
        return seeds.init(self.keys, cfg, loop, venv)

    def has_checkpoint(self) -> bool:
        """False for a run stopped before its first checkpoint (none of its seeds has one)."""
        return any(c.steps() for c in self.ckpts)

    def restore(self, abstract):
        """The newest checkpoint every member has (orbax steps are env steps)."""
        legacy = agent.legacy_layouts(abstract)
        found = [c.restore_latest(abstract, legacy=legacy) for c in self.ckpts]
        if any(r is None for r in found):
            raise checkpoint.ResumeError(
                f"--resume: no readable checkpoint in {self.dirs[0]}/checkpoints"
            )
        common = min(int(ts.env_steps) for ts, _ in found)
        found = [r if int(r[0].env_steps) == common else c.restore_latest(abstract, common, legacy)
                 for r, c in zip(found, self.ckpts, strict=True)]  # fmt: skip
        if any(r is None or int(r[0].env_steps) != common for r in found):
            raise checkpoint.ResumeError(
                f"--resume: the seeds have no checkpoint at a common step {common}"
            )
        states, metas = zip(*found, strict=True)
        ts = train.place(states[0]) if self.n == 1 else seeds.stack(list(states))
        parts = [{k: np.asarray(v, np.float32) for k, v in p.items()}
                 for p in metas[0].get("partial", [])]  # fmt: skip
        return ts, metas[0]["epoch"], metas[0]["wall_time"], parts

    def eval_key(self, i):
        keys = [jax.random.fold_in(k, i) for k in self.eval_keys]  # same after a resume
        return keys[0] if self.n == 1 else jnp.stack(keys)

    def rows(self, metrics) -> list:
        """Per-seed dicts of floats (metrics carry a leading seed axis when n > 1)."""
        host = jax.device_get(metrics)
        if self.n == 1:
            return [{k: float(v) for k, v in host.items()}]
        return [{k: float(v[i]) for k, v in host.items()} for i in range(self.n)]

    def save(self, ts, meta):
        for i, (d, c) in enumerate(zip(self.dirs, self.ckpts, strict=True)):
            member = self.state(ts, i)
            c.save(int(member.env_steps), member, meta)
            policy_io.save_actor(d, member.agent.params.actor, member.agent.obs_norm)

    def close(self):
        for c in self.ckpts:
            c.close()


def call_loop(loop: train.LoopConfig) -> train.LoopConfig:
    """The LoopConfig of one jitted call: `iters_per_call` iterations (0: one on CPU, where a
    4096-env iteration takes seconds and a stop should not wait for the epoch; the whole epoch on
    accelerators, where the epoch is short and fewer calls cost less)."""
    per_call = loop.iters_per_call or (
        1 if jax.default_backend() == "cpu" else loop.iters_per_epoch
    )
    if loop.iters_per_epoch % per_call:
        raise ValueError(
            f"iters_per_call={per_call} must divide iters_per_epoch={loop.iters_per_epoch}"
        )
    return dataclasses.replace(loop, iters_per_epoch=per_call, iters_per_call=per_call)


class _Pace:
    """Env steps/s and updates/s since the end of the first call that learned (so neither the
    compile nor the warm-up's update-free calls are in the ETA), and the one early progress line
    a long first epoch gets."""

    EARLY_S = 20.0  # seconds of timed calls before the early line (a first sign within ~a minute)

    def __init__(self):
        self.t0 = self.steps0 = self.updates0 = None
        self.early_done = False

    def tick(self, env_steps: int, updates: float) -> None:
        if self.t0 is None:
            self.t0, self.steps0, self.updates0 = time.time(), env_steps, updates

    def rates(self, env_steps: int, updates: float):
        """(env steps/s, updates/s) over the timed calls, or None before two ticks."""
        dt = time.time() - self.t0 if self.t0 is not None else 0.0
        if dt <= 0 or env_steps <= self.steps0:
            return None
        return (env_steps - self.steps0) / dt, (updates - self.updates0) / dt

    def early_due(self) -> bool:
        return not self.early_done and self.t0 is not None and time.time() - self.t0 >= self.EARLY_S


def run(settings: dict, cfg, loop, env, out: str, resume: bool, checkpoint_every: int,
        eval_every: int) -> str:  # fmt: skip
    """Trains to settings['total_env_steps']; returns the status also written to summary.json:
    'finished', 'interrupted by SIG...' or 'stopped: ...' (see `exit_code`). The final log rows
    are in each run dir's metrics.jsonl and summary.json.

    The program runs one call (`call_loop`) at a time; an epoch's log point combines its calls
    (train.reduce_iterations). SIGINT/SIGTERM stop the run after the current call: a stop inside
    an epoch saves a checkpoint there with the epoch's calls so far, and --resume completes the
    epoch exactly as an uninterrupted run would have.

    resume: continue from the newest checkpoint, or from zero when the run has none yet.
    """
    members = _Members(settings, out, resume)
    n_dev = settings.get("num_devices", 1)
    one_call = call_loop(loop)
    calls = loop.iters_per_epoch // one_call.iters_per_epoch
    venv, step, evaluate = programs(cfg, one_call, env, members.n, n_dev)
    print(compile_line(one_call, calls, members.n), flush=True)  # the reset compiles in init
    t_compile = time.time()
    if resume and not members.has_checkpoint():
        print(run_dir.restart_line(out), flush=True)
        resume = False
    if resume:
        abstract = jax.eval_shape(lambda k: train.init(k, cfg, one_call, venv), members.keys[0])
        ts, start_epoch, wall0, parts = members.restore(abstract)
        print(resumed_line(out, int(ts.env_steps), start_epoch), flush=True)
    else:
        ts, start_epoch, wall0, parts = members.init(cfg, one_call, venv), 0, 0.0, []
    if n_dev != 1:
        ts = layout(cfg, one_call, env, n_dev).put(ts)
    steps0 = int(ts.env_steps) if resume else None
    logs = [run_dir.RunLog(d, s, env, resume_steps=steps0)
            for d, s in zip(members.dirs, members.settings, strict=True)]  # fmt: skip
    per_epoch = loop.num_envs * loop.iters_per_epoch
    n_epochs = -(-settings["total_env_steps"] // per_epoch)
    stop, start, pace = StopFlag(), time.time() - wall0, _Pace()
    status, i, first = "finished", start_epoch, True
    while i < n_epochs:
        ts, metrics = step(ts)
        parts.append(jax.device_get(metrics))
        rows = members.rows(parts[-1])
        if first:
            took = time.time() - t_compile
            print(f"compiled: the env reset and the first call took {took:.1f} s", flush=True)
            first = False
        if (
            rows[0].get("train/learning", 1.0) > 0
        ):  # warm-up calls (no updates) would flatter the ETA
            pace.tick(int(ts.env_steps), rows[0].get("train/updates", 0.0))
        rates = pace.rates(int(ts.env_steps), rows[0].get("train/updates", 0.0))
        if len(parts) < calls:
            if pace.early_due() and rates:
                pace.early_done = True
                line = run_dir.progress_line(
                    int(ts.env_steps), rates[0], rows[0], _eta(settings, ts, rates), rates[1]
                )
                print(line, flush=True)
                _warn_if_long(settings, _eta(settings, ts, rates))
            if stop.signal:
                members.save(ts, _meta(i, start, parts))
                status = f"interrupted by {stop.signal}; checkpoint saved, continue with --resume"
                break
            continue
        metrics = train.reduce_iterations({k: np.stack([p[k] for p in parts]) for k in parts[0]})
        parts = []
        if (i + 1) % eval_every == 0 or i + 1 == n_epochs:
            learner = ts.agent
            metrics.update(evaluate(learner.params.actor, members.eval_key(i), learner.obs_norm))
        rows = members.rows(metrics)
        bad = _non_finite(rows)
        if bad:
            status = f"stopped: non-finite {bad} at epoch {i}; last good checkpoint kept"
            break
        if not pace.early_done and rates:
            _warn_if_long(settings, _eta(settings, ts, rates))
        pace.early_done = True
        for j, (log, row) in enumerate(zip(logs, rows, strict=True)):
            log.write(int(ts.env_steps), row, start, settings["total_env_steps"], echo=j == 0,
                      rates=rates)  # fmt: skip
        _echo_seeds(rows)
        i += 1
        if stop.signal or i == n_epochs or i % checkpoint_every == 0:
            members.save(ts, _meta(i, start, []))
        if stop.signal:
            status = f"interrupted by {stop.signal}; checkpoint saved, continue with --resume"
            break
    stop.restore()
    members.close()
    for log in logs:
        log.close(status=status)
    if members.n > 1:
        finals = {s["seed"]: log.last for s, log in zip(members.settings, logs, strict=True)}
        run_dir.write_json(out, "summary.json", dict(status=status, final=finals))
    print(status, flush=True)
    return status


def compile_line(one_call, calls: int, num_seeds: int) -> str:
    """Printed before the env reset and the first call, whose compiles can take minutes."""
    seeds_part = f" x {num_seeds} seeds" if num_seeds > 1 else ""
    return (
        f"compiling the env reset and the training program: {one_call.iters_per_epoch} "
        f"iteration(s) of "
        f"{one_call.num_envs} envs{seeds_part} per call, {calls} call(s) per log point ..."
    )


LONG_CPU_RUN_S = 3 * 3600  # a run longer than this on a CPU gets one line naming a smaller one


def long_run_line(settings: dict, eta_s: float, platform: str) -> str:
    """'' or, on a CPU whose measured pace puts the run beyond LONG_CPU_RUN_S, one line saying so
    and naming the CPU-sized command (the cpu preset: 128 envs, 128-wide networks)."""
    if platform != "cpu" or eta_s <= LONG_CPU_RUN_S or settings.get("preset") == "cpu":
        return ""
    return (
        f"note: at this pace the run needs ~{eta_s / 3600:.1f} h more on this CPU; the "
        f"CPU-sized recipe is: python -m flowrl_mjx.launch --task {settings['task']} "
        f"--preset cpu"
    )


def _warn_if_long(settings, eta_s):
    line = long_run_line(settings, eta_s, jax.default_backend())
    if line:
        print(line, flush=True)


def _eta(settings, ts, rates) -> float:
    return (settings["total_env_steps"] - int(ts.env_steps)) / max(rates[0], 1e-9)


def _meta(epoch: int, start: float, parts: list) -> dict:
    """A checkpoint's loop state: completed epochs, wall time, and the calls of the epoch in
    progress (their metrics, so a resumed epoch logs what an uninterrupted one would)."""
    partial = [{k: np.asarray(v).tolist() for k, v in p.items()} for p in parts]
    return dict(epoch=epoch, wall_time=time.time() - start, partial=partial)


def resumed_line(out: str, env_steps: int, epoch: int) -> str:
    """The line a resumed run prints: where it continues from."""
    return f"resumed {out} from its checkpoint at env step {env_steps:,} (epoch {epoch})"


def exit_code(status: str) -> int:
    """The CLI's exit code for a run's status: 0 finished; 128 + the signal's number when
    interrupted (130 SIGINT, 143 SIGTERM: what a shell reports for a process the signal killed,
    so scripts see the run did not finish); 1 stopped on an error."""
    if status == "finished":
        return 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        if status.startswith(f"interrupted by {sig.name}"):
            return 128 + sig.value
    return 1


def _non_finite(rows) -> str:
    """'' or the non-finite metrics that stop a run (flowrl_mjx.algorithm.metrics.stops_run)."""
    bad = [f"{k}" + (f" (seed index {j})" if len(rows) > 1 else "")
           for j, row in enumerate(rows) for k, v in row.items()
           if metric_rules.stops_run(k) and not np.isfinite(v)]  # fmt: skip
    return ", ".join(bad)


def _echo_seeds(rows):
    line = seed_returns_line(rows)
    if line:
        print(line, flush=True)


def seed_returns_line(rows) -> str:
    """'' for one seed, else each protocol's eval return per seed, stochastic (the official
    FlowRL protocol) first, as the progress line orders them."""
    if len(rows) < 2:
        return ""
    parts = [f"{label} {[round(r[k], 1) for r in rows]}"
             for label, k in (("stochastic (official protocol)", "eval/return_stochastic"),
                              ("deterministic", "eval/return_deterministic"))
             if k in rows[0]]  # fmt: skip
    return f"  eval return per seed: {' '.join(parts)}" if parts else ""
