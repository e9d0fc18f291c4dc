"""The fused training program: env step -> flow-policy action -> replay insert -> K updates.

One iteration: every env steps once (uniform random actions during warm-up, flow-policy samples
after), the batch of transitions enters the on-device ring buffer, then K = cfg.updates_per_iter
updates run (from the end of warm-up on). `lax.scan` over iterations makes one jitted call that
donates the TrainState: an epoch (one log point), or an equal part of one
(LoopConfig.iters_per_call, so that the host can stop a run between calls); nothing returns to the
host inside it.

With cfg.obs_norm (flowrl_mjx.algorithm.normalizer), the policy acts on normalised observations,
and each iteration merges the env step's new observations (valid rows; warm-up included) into the
running statistics right after the step, so the K updates and the next action use the same
statistics.
"""

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from envs import jax_setup
from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import agent, learner, normalizer, replay
from flowrl_mjx.algorithm import metrics as metric_rules
from flowrl_mjx.algorithm.config import Config


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Settings of the loop around the agent (static: shapes and counts)."""

    num_envs: int = 4096  # parallel training envs
    iters_per_epoch: int = 100  # iterations per log point (one epoch)
    # iterations per jitted call, dividing iters_per_epoch: the host checks for SIGINT/SIGTERM
    # between calls (0: one on CPU, where an iteration can take seconds; the epoch elsewhere)
    iters_per_call: int = 0
    num_eval_envs: int = 16  # envs of each evaluation (full episodes)


@flax.struct.dataclass
class TrainState:
    agent: agent.AgentState
    replay: replay.ReplayState
    env: object  # brax State of the VecEnv, batched over envs
    key: jax.Array
    env_steps: jax.Array  # int32 total env steps taken (all envs)


def place(ts: TrainState) -> TrainState:
    """Commits every leaf to the default device.

    jit keys its cache on whether an argument is committed to a device: a fresh state is not, a
    restored checkpoint is. Committing both keeps one compiled epoch across init and resume.
    """
    return jax.device_put(ts, jax.local_devices()[0])


def init(key, cfg: Config, loop: LoopConfig, venv: VecEnv) -> TrainState:
    return place(_fresh(key, cfg, venv, _reset_program(venv)))


def _fresh(key, cfg: Config, venv: VecEnv, reset) -> TrainState:
    key_agent, key_env, key = jax.random.split(key, 3)
    return TrainState(
        agent=agent.init(key_agent, cfg, venv.observation_size, venv.action_size),
        replay=replay.init(cfg.replay_size, venv.observation_size, venv.action_size),
        env=reset(key_env),
        key=key,
        env_steps=jnp.zeros((), jnp.int32),
    )


@functools.lru_cache(maxsize=8)
def _reset_program(venv: VecEnv):
    """The VecEnv's jitted reset, one per VecEnv: a fresh jax.jit per init re-traced and
    re-compiled MJX's reset every time (its cost: results/perf_changes.md)."""
    return jax_setup.jit_env(venv.reset, venv.num_envs, venv.env)


@functools.lru_cache(maxsize=8)
def abstract_state(cfg: Config, loop: LoopConfig, venv: VecEnv) -> TrainState:
    """The TrainState's shapes and dtypes (jax.eval_shape of init), once per program: what a
    restore, a device layout and the seeds' vmap axes are built from. The env reset is traced
    unjitted: its jitted program may carry compile options (jax_setup.jit_env), which jax
    refuses on a jit nested in another trace."""
    return jax.eval_shape(lambda k: place(_fresh(k, cfg, venv, venv.reset)), jax.random.PRNGKey(0))


def make_epoch(cfg: Config, loop: LoopConfig, venv: VecEnv):
    """The epoch as one jitted call that donates its TrainState (see make_epoch_fn)."""
    return jax_setup.jit_task(make_epoch_fn(cfg, loop, venv), venv.env, donate_argnums=0)


def make_epoch_fn(cfg: Config, loop: LoopConfig, venv: VecEnv, insert=replay.insert):
    """epoch(ts) -> (ts, metrics): loop.iters_per_epoch fused iterations, metrics averaged.
    Pure and unjitted, so that seeds.py can vmap it; sharding.py passes replay.insert_scatter."""
    n = loop.num_envs
    agent_fns = learner.build(cfg, venv.observation_size, venv.action_size, stride=n)
    act, learn, no_metrics = agent_fns.act, agent_fns.update, agent_fns.no_metrics

    def iteration(ts: TrainState, _):
        key, k_act, k_rand, k_learn = jax.random.split(ts.key, 4)
        obs = ts.env.obs
        warm = ts.env_steps < cfg.warmup_steps
        net_obs = normalizer.inputs(cfg.obs_norm, ts.agent.obs_norm, obs)
        a_pi = act(ts.agent.params.actor, net_obs, k_act)
        a_rand = jax.random.uniform(k_rand, a_pi.shape, minval=-1.0, maxval=1.0)
        action = jnp.where(warm, a_rand, a_pi)
        env = venv.step(ts.env, action)
        info = env.info
        batch = replay.Transition(obs=obs, action=action, reward=env.reward,
                                  discount=info["discount"], next_obs=info["next_obs"],
                                  valid=info["valid"])  # fmt: skip
        buf = insert(ts.replay, batch)
        steps = ts.env_steps + n
        learning = steps >= cfg.warmup_steps
        observed = agent.observe(cfg, ts.agent, env.obs, info["valid"])  # obs acted on next
        new_agent, metrics = jax.lax.cond(
            learning, learn, lambda a, b, k: (a, no_metrics), observed, buf, k_learn
        )
        metrics = dict(metrics, **{
            "train/reward": jnp.mean(env.reward),
            "train/nan_resets": jnp.sum(info["nan_resets"]).astype(jnp.float32),
            "train/episode_return": jnp.nanmean(info["last_return"]),
            "train/learning": learning.astype(jnp.float32),
        })  # fmt: skip
        return TrainState(new_agent, buf, env, key, steps), metrics

    def epoch(ts: TrainState):
        ts, metrics = jax.lax.scan(iteration, ts, None, length=loop.iters_per_epoch)
        return ts, reduce_iterations(metrics, jnp)

    return epoch


def reduce_iterations(metrics: dict, xp=np) -> dict:
    """Per-iteration (or per-call) metrics, stacked on axis 0, as one log point, by the rules of
    flowrl_mjx.algorithm.metrics (train/* at the last one, train/reward and the rest averaged).
    Equal-length calls combine into the epoch's values (`xp`: jnp in the program, numpy on the
    host)."""
    return {k: v[-1] if metric_rules.keeps_last(k) else xp.mean(v, axis=0)
            for k, v in metrics.items()}  # fmt: skip
