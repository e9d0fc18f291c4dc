"""Batch wrapper: vectorisation, episode bookkeeping, fresh-state auto-reset and a NaN guard.

`VecEnv(env, num_envs)` steps `num_envs` copies of a single-instance task. After `step`:
- `state.obs` is the observation to act on next (a fresh episode's first obs where one ended);
- `state.info["next_obs"]` is the true observation reached by the step (the final obs of a
  finished episode), the one to bootstrap from;
- `state.info["discount"]` is 0 only on a task termination; the time limit truncates (discount 1);
- `state.info["valid"]` is 0 where the physics went non-finite: that transition must not be
  stored; the env is reset and `state.info["nan_resets"]` counts such events (per env, cumulative).
Auto-reset draws a new random initial state (the per-env key lives in info["key"]); the resets of
a batch are computed only when some env finished (one lax.cond over the batch). Under an outer
vmap (several seeds in one program) that predicate would be batched and the cond would become a
select that computes every reset at every step (cheetah's reset settles the body for 200 physics
steps); `VecEnv(..., sync_axis=name)` reduces it over the named vmap axis so it stays a cond.
"""

import jax
import jax.numpy as jnp
from brax.envs.base import State

from envs import physics


def _select(mask, new, old):
    def pick(a, b):
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree.map(pick, new, old)


class VecEnv:
    """num_envs copies of `env` with auto-reset; see the module doc for the info keys."""

    def __init__(self, env, num_envs: int, episode_length: int | None = None, sync_axis=None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.env, self.num_envs = env, num_envs
        self.episode_length = episode_length or env.episode_length
        self.sync_axis = sync_axis  # name of an enclosing vmap axis the reset switch spans
        self._reset_one = jax.vmap(self._fresh)
        self._step_one = jax.vmap(env.step)

    def synced(self, axis_name: str) -> "VecEnv":
        """This VecEnv for use under `jax.vmap(..., axis_name=axis_name)` (see the module doc)."""
        return VecEnv(self.env, self.num_envs, self.episode_length, sync_axis=axis_name)

    @property
    def observation_size(self):
        return self.env.observation_size

    @property
    def action_size(self):
        return self.env.action_size

    def _fresh(self, key):
        key, k = jax.random.split(key)
        state = self.env.reset(k)
        zero, izero = jnp.zeros(()), jnp.zeros((), jnp.int32)
        info = dict(
            state.info,
            key=key,
            steps=izero,
            episode_return=zero,
            next_obs=state.obs,
            discount=jnp.ones(()),
            truncation=zero,
            valid=jnp.ones(()),
        )
        return state.replace(info=info)

    def reset(self, key) -> State:
        state = self._reset_one(jax.random.split(key, self.num_envs))
        counters = dict(
            nan_resets=jnp.zeros(self.num_envs, jnp.int32),
            last_return=jnp.full((self.num_envs,), jnp.nan, jnp.float32),
            episodes=jnp.zeros(self.num_envs, jnp.int32),
        )
        return state.replace(info={**state.info, **counters})

    def step(self, state: State, action: jax.Array) -> State:
        info = state.info
        task_info = {k: v for k, v in info.items() if k not in _WRAPPER_KEYS}
        stepped = self._step_one(state.replace(info=task_info), action)
        finite = (
            jax.vmap(physics.is_finite)(stepped.pipeline_state)
            & jnp.all(jnp.isfinite(stepped.obs), axis=-1)
            & jnp.isfinite(stepped.reward)
        )
        steps = info["steps"] + 1
        terminated = stepped.done > 0
        truncated = (steps >= self.episode_length) & ~terminated
        ended = terminated | truncated | ~finite
        # A non-finite step keeps no NaN anywhere a learner reads (obs, next_obs, reward): it is
        # stored flagged (valid = 0), and masked losses multiply by that flag, where NaN * 0 = NaN.
        final_obs = jnp.where(finite[:, None], stepped.obs, 0.0)
        ep_return = info["episode_return"] + jnp.where(finite, stepped.reward, 0.0)
        new_info = dict(
            stepped.info, key=info["key"], steps=steps, episode_return=ep_return,
            next_obs=final_obs, discount=1.0 - terminated.astype(jnp.float32),
            truncation=truncated.astype(jnp.float32), valid=finite.astype(jnp.float32),
            nan_resets=info["nan_resets"] + (~finite).astype(jnp.int32),
            last_return=jnp.where(ended & finite, ep_return, info["last_return"]),
            episodes=info["episodes"] + (ended & finite).astype(jnp.int32),
        )  # fmt: skip
        stepped = stepped.replace(
            reward=jnp.where(finite, stepped.reward, 0.0),
            done=ended.astype(jnp.float32),
            info=new_info,
            obs=final_obs,
        )
        any_ended = jnp.any(ended)
        if self.sync_axis is not None:
            any_ended = jax.lax.psum(any_ended.astype(jnp.int32), self.sync_axis) > 0
        return jax.lax.cond(any_ended, self._auto_reset, lambda s, _: s, stepped, ended)

    def _auto_reset(self, state: State, ended: jax.Array) -> State:
        fresh = self._reset_one(state.info["key"])
        keep = (
            "next_obs",
            "discount",
            "truncation",
            "valid",
            "nan_resets",
            "last_return",
            "episodes",
        )  # per-transition outputs survive the reset
        merged = state.replace(
            pipeline_state=_select(ended, fresh.pipeline_state, state.pipeline_state),
            obs=_select(ended, fresh.obs, state.obs),
            info={k: (v if k in keep else _select(ended, fresh.info[k], v))
                  for k, v in state.info.items()},
        )  # fmt: skip
        return merged


_WRAPPER_KEYS = ("key", "steps", "episode_return", "next_obs", "discount", "truncation", "valid",
                 "nan_resets", "last_return", "episodes")  # fmt: skip
