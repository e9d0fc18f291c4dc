"""The MJX backend of the runner: envs inside the jitted program, on the device.

What the runner's loop (flowrl_mjx.runtime.runner) asks of a backend, for the fused program: one
jitted call of `iters_per_call` iterations (algorithm/train.py), S seeds vmapped in it
(algorithm/seeds.py) or the envs and replay split over devices (algorithm/sharding.py), the
jitted evaluation, and per-seed checkpoints. Seed i of a stacked state is member i, whose outputs
form a complete single-seed run dir (`member_dirs`).
"""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp

from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import agent, evaluation, learner, seeds, sharding, train
from flowrl_mjx.runtime import checkpoint, policy_io, run_dir
from flowrl_mjx.runtime.machine import machine_info
from flowrl_mjx.runtime.run_config import RunConfig


def programs(cfg, loop, env, num_seeds: int = 1, num_devices: int = 1):
    """(VecEnv, jitted epoch, jitted evaluate), built once per (config, env, seeds, devices) in a
    process. num_seeds > 1: both vmapped over seeds (algorithm/seeds.py); num_devices != 1: the
    epoch compiled for the envs and replay split across devices (algorithm/sharding.py)."""
    return _programs(cfg, loop, env, num_seeds, num_devices)  # one cache key however called


@functools.lru_cache(maxsize=4)
def _programs(cfg, loop, env, num_seeds: int, num_devices: int):
    venv = VecEnv(env, loop.num_envs)
    agent_fns = learner.build(cfg, env.observation_size, env.action_size, stride=loop.num_envs)
    eval_args = (cfg, env, agent_fns, loop.num_eval_envs, env.episode_length)
    if num_seeds > 1:
        evaluate_fn = evaluation.make_evaluate_fn(*eval_args)
        evaluate = seeds.make_evaluate(evaluate_fn, loop.num_eval_envs, env)
        return venv, seeds.make_epoch(cfg, loop, venv), evaluate
    evaluate = evaluation.make_evaluate(*eval_args)
    if num_devices != 1:
        epoch = layout(cfg, loop, env, num_devices).make_epoch(cfg, loop, venv)
        return venv, epoch, evaluate
    return venv, train.make_epoch(cfg, loop, venv), evaluate


@functools.lru_cache(maxsize=4)
def layout(cfg, loop, env, num_devices: int) -> sharding.Layout:
    mesh = sharding.make_mesh(num_devices)
    sharding.check_divisible(mesh, loop.num_envs, cfg.replay_size)
    abstract = train.abstract_state(cfg, loop, VecEnv(env, loop.num_envs))
    return sharding.Layout(mesh, abstract, loop.num_envs)


def member_dirs(out: str, seed: int, num_seeds: int) -> list:
    """Where each seed's outputs go: the run dir itself, or one complete run dir per seed."""
    if num_seeds == 1:
        return [out]
    return [os.path.join(out, f"seed_{seed + i}") for i in range(num_seeds)]


def member_runs(run: RunConfig, out: str) -> list:
    """Each seed's RunConfig: a single-seed run, its W&B run grouped with the others'."""
    wandb = run_dir.wandb_member(run.wandb, out, run.num_seeds)
    return [run.member(i, wandb) for i in range(run.num_seeds)]


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


def compile_line(one_call, calls: int, num_seeds: int, resume: bool = False) -> str:
    """Printed before the env reset and the first call, whose compiles can take minutes (a resume
    restores the env states instead of resetting them)."""
    what = "the training program" if resume else "the env reset and the training program"
    seeds_part = f" x {num_seeds} seeds" if num_seeds > 1 else ""
    return (
        f"compiling {what}: {one_call.iters_per_epoch} iteration(s) of "
        f"{one_call.num_envs} envs{seeds_part} per call, {calls} call(s) per log point ..."
    )


class MjxBackend:
    """The runner's backend for `--backend mjx`: the fused program's state, calls, evaluation and
    per-seed checkpoints (see flowrl_mjx.runtime.runner for what each method owes the loop)."""

    def __init__(self, run: RunConfig, env, out: str, resume: bool):
        self.run, self.env, self.n = run, env, run.num_seeds
        self.dirs = member_dirs(out, run.seed, self.n)
        if self.n > 1:
            for d in self.dirs:
                run_dir.prepare(d, run.task, run.seed, resume)
            if not resume:
                run_dir.write_json(out, "config.json", dict(run.to_json(), machine=machine_info()))
        self.runs = member_runs(run, out)
        self.record = {}  # config.json's extra entries (none beside the run's)
        keys = [jax.random.split(jax.random.PRNGKey(run.seed + i)) for i in range(self.n)]
        self.keys, self.eval_keys = [k[0] for k in keys], [k[1] for k in keys]
        self.ckpts = [checkpoint.Checkpoints(d) for d in self.dirs]
        self.one_call = call_loop(run.loop)
        self.calls_per_epoch = run.loop.iters_per_epoch // self.one_call.iters_per_epoch
        self.venv, self._step, self._evaluate = programs(
            run.config, self.one_call, env, self.n, run.num_devices
        )
        self.ts = None

    def compile_line(self, resume: bool) -> str:
        return compile_line(self.one_call, self.calls_per_epoch, self.n, resume)

    def has_checkpoint(self) -> bool:
        """False for a run stopped before its first checkpoint (none of its seeds has one)."""
        return any(c.steps() for c in self.ckpts)

    def model(self):
        """What RunLog saves as model.mjb: the MJX env's model."""
        return self.env

    def start(self, resume: bool) -> checkpoint.Start:
        """Fresh states, or the newest checkpoint every member has."""
        cfg, loop = self.run.config, self.one_call
        start = checkpoint.Start()
        if resume:
            self.ts, meta = self._restore(train.abstract_state(cfg, loop, self.venv))
            start = checkpoint.Start.from_meta(meta)
        elif self.n == 1:
            self.ts = train.init(self.keys[0], cfg, loop, self.venv)
        else:
            self.ts = seeds.init(self.keys, cfg, loop, self.venv)
        if self.run.num_devices != 1:
            self.ts = layout(cfg, loop, self.env, self.run.num_devices).put(self.ts)
        return start

    def _restore(self, abstract):
        legacy = agent.legacy_layouts(abstract)
        cfg, loop = self.run.config, self.one_call
        # a state field added after a checkpoint was written starts from the member's init
        fresh = [functools.partial(train.init, k, cfg, loop, self.venv) for k in self.keys]
        found = [c.resume(abstract, legacy=legacy, defaults=f)
                 for c, f in zip(self.ckpts, fresh, strict=True)]  # fmt: skip
        common = min(int(ts.env_steps) for ts, _ in found)
        found = [r if int(r[0].env_steps) == common else
                 c.restore_latest(abstract, common, legacy, defaults=f)
                 for r, c, f in zip(found, self.ckpts, fresh, strict=True)]  # fmt: skip
        if any(r is None or int(r[0].env_steps) != common for r in found):
            raise checkpoint.ResumeError(
                f"--resume: the seeds have no checkpoint at a common step {common}"
            )
        states, metas = zip(*found, strict=True)
        ts = train.place(states[0]) if self.n == 1 else seeds.stack(list(states))
        return ts, metas[0]

    @property
    def env_steps(self) -> int:
        return int(self.ts.env_steps)

    def call(self) -> dict:
        """One jitted call; its metrics on the host (a leading seed axis when n > 1)."""
        self.ts, metrics = self._step(self.ts)
        return jax.device_get(metrics)

    def evaluate(self, epoch: int) -> dict:
        keys = [jax.random.fold_in(k, epoch) for k in self.eval_keys]  # same after a resume
        key = keys[0] if self.n == 1 else jnp.stack(keys)
        learner = self.ts.agent
        return jax.device_get(self._evaluate(learner.params.actor, key, learner.obs_norm))

    def member(self, i: int):
        return self.ts if self.n == 1 else seeds.member(self.ts, i)

    def save(self, meta: dict) -> None:
        for i, (d, c) in enumerate(zip(self.dirs, self.ckpts, strict=True)):
            member = self.member(i)
            c.save(int(member.env_steps), member, meta)
            policy_io.save_actor(d, member.agent.params.actor, member.agent.obs_norm)

    def close(self) -> None:
        for c in self.ckpts:
            c.close()
