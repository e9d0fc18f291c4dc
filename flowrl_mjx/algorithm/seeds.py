"""S independent seeds in one program (`--num_seeds S`): vmap over the whole TrainState.

Every leaf gets a leading seed axis except the counters that are equal for all seeds by
construction (env steps, the update counter, the replay's insert position and size): they stay
unbatched, so the warm-up switch and the policy/target delays remain real `lax.cond`s under vmap
(not select-both-branches), and the envs' auto-reset switch is reduced over the seed axis
(VecEnv.synced) for the same reason: as a select, a reset (cheetah_run's settles the body for
200 physics steps) would run at every step (results/perf_changes.md, "several seeds in one
program").
Member i of a stacked state is exactly the state a single-seed run of seed (seed + i) holds, so
per-seed checkpoints are ordinary single-seed checkpoints.
"""

import jax
import jax.numpy as jnp

from envs import jax_setup
from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import train
from flowrl_mjx.algorithm.config import Config

AXIS = "seed"  # the vmap axis name of the seeds


def axes(ts: train.TrainState) -> train.TrainState:
    """The vmap axes of a TrainState: 0 for every leaf, None for the shared counters."""
    zeros = jax.tree.map(lambda _: 0, ts)
    return zeros.replace(
        env_steps=None,
        agent=zeros.agent.replace(step=None),
        replay=zeros.replay.replace(insert_pos=None, size=None),
    )


def stack(states: list) -> train.TrainState:
    """Stacks single-seed states along a new leading axis (the shared counters must agree)."""
    shared = {_counters(s) for s in states}
    if len(shared) != 1:
        raise ValueError(f"seed states are at different steps {sorted(shared)}; cannot stack")
    spec = axes(states[0])
    stacked = jax.tree.map(
        lambda a, *xs: xs[0] if a is None else jnp.stack(xs), spec, *states, is_leaf=_is_none
    )
    return train.place(stacked)


def member(ts: train.TrainState, i: int) -> train.TrainState:
    """Seed i's single-seed state out of a stacked one."""
    axis = axes(ts)
    return jax.tree.map(lambda a, x: x if a is None else x[i], axis, ts, is_leaf=_is_none)


def init(keys, cfg: Config, loop: train.LoopConfig, venv: VecEnv) -> train.TrainState:
    """Stacked fresh states, member i = train.init(keys[i]) (the single-seed run's state)."""
    return stack([train.init(key, cfg, loop, venv) for key in keys])


def make_epoch(cfg: Config, loop: train.LoopConfig, venv: VecEnv):
    """epoch(stacked ts) -> (ts, metrics with a leading seed axis); one jitted, donating call."""
    epoch = train.make_epoch_fn(cfg, loop, venv.synced(AXIS))
    spec = axes(train.abstract_state(cfg, loop, venv))
    vmapped = jax.vmap(epoch, in_axes=(spec,), out_axes=(spec, 0), axis_name=AXIS)
    return jax_setup.jit_task(vmapped, venv.env, donate_argnums=0)


def make_evaluate(evaluate_fn, num_envs: int, env):
    """evaluate(actor_params, key) -> metrics, vmapped over stacked params and per-seed keys;
    evaluate_fn is evaluation.make_evaluate_fn's (unjitted), jitted here with the options of
    `num_envs` eval envs of `env` (jax_setup.jit_env), as the single-seed evaluate."""
    return jax_setup.jit_env(jax.vmap(evaluate_fn), num_envs, env)


def _counters(ts: train.TrainState) -> tuple:
    return tuple(int(x) for x in (ts.env_steps, ts.agent.step, ts.replay.insert_pos,
                                  ts.replay.size))  # fmt: skip


def _is_none(x) -> bool:
    return x is None
