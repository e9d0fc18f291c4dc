"""A group of dm_control envs in one process: the unit `host_env.HostEnvPool` runs in-process or in
each worker. Episode bookkeeping (time limit, auto-reset, divergence) follows envs.wrappers.VecEnv.
"""

import dataclasses
import difflib

import numpy as np

from envs import dmc
from envs.dmc import flat_obs


@dataclasses.dataclass
class HostStep:
    """One step of every env of a pool; arrays with a leading num_envs axis (see host_env)."""

    obs: np.ndarray  # float32 (n, obs): to act on next; a fresh episode's first obs where one ended
    reward: np.ndarray  # float64 (n,) as dm_control returns it (exact eval sums), 0 where invalid
    discount: np.ndarray  # float32 (n,), 0 only at a task termination
    next_obs: np.ndarray  # float32 (n, obs): the true obs reached (final obs at an episode end)
    valid: np.ndarray  # float32 (n,), 0 where the physics diverged (env reset, do not learn)
    ended: np.ndarray  # bool (n,): an episode ended here (termination, time limit or divergence)
    episode_return: np.ndarray  # float32 (n,): return of the episode that ended here, else NaN


def concat(steps: list) -> HostStep:
    fields = [f.name for f in dataclasses.fields(HostStep)]
    return HostStep(**{k: np.concatenate([getattr(s, k) for s in steps]) for k in fields})


def split_task(name: str) -> tuple:
    """'ball_in_cup_catch' -> ('ball_in_cup', 'catch'), by dm_control.suite's own task list."""
    from dm_control import suite

    table = {f"{d}_{t}": (d, t) for d, t in suite.ALL_TASKS}
    if name not in table:
        close = difflib.get_close_matches(name, table, n=5, cutoff=0.4)
        hint = f"did you mean: {', '.join(close)}?" if close else f"valid: {', '.join(table)}"
        raise ValueError(f"unknown dm_control task {name!r}; {hint}")
    return table[name]


class EnvGroup:
    """dm_control envs with fixed task seeds, stepped one after another in this process."""

    def __init__(self, task: str, seeds: list, episode_length: int = 1000):
        from dm_control.rl.control import PhysicsError

        self._physics_error = PhysicsError
        domain, name = split_task(task)
        self.envs = dmc.quietly(lambda: [dmc.load(domain, name, int(s)) for s in seeds])
        spec = self.envs[0].action_spec()
        self._lo = np.broadcast_to(spec.minimum, spec.shape).astype(np.float64)
        self._hi = np.broadcast_to(spec.maximum, spec.shape).astype(np.float64)
        self.action_size = int(np.prod(spec.shape))
        self.obs_size = sum(int(np.prod(s.shape)) for s in self.envs[0].observation_spec().values())
        self.episode_length = episode_length
        n = len(self.envs)
        self._steps, self._returns = np.zeros(n, np.int64), np.zeros(n, np.float64)

    def to_dm_action(self, action: np.ndarray) -> np.ndarray:
        """[-1, 1] -> the action_spec bounds (the MJX env clips and scales the same way)."""
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        return self._lo + (a + 1.0) * 0.5 * (self._hi - self._lo)

    def reset(self) -> np.ndarray:
        self._steps[:], self._returns[:] = 0, 0.0
        return np.stack([flat_obs(env.reset().observation) for env in self.envs]).astype(np.float32)

    def _step_one(self, env, action):
        """(next_obs, reward, discount, last, valid) of one dm_control step."""
        try:
            ts = env.step(self.to_dm_action(action))
        except self._physics_error:
            return np.zeros(self.obs_size), 0.0, 1.0, True, False
        next_obs, reward = flat_obs(ts.observation), float(ts.reward or 0.0)
        if not (np.all(np.isfinite(next_obs)) and np.isfinite(reward)):
            return np.zeros(self.obs_size), 0.0, 1.0, True, False
        return next_obs, reward, float(ts.discount), ts.last(), True

    def step(self, actions: np.ndarray) -> HostStep:
        n = len(self.envs)
        out = {k: np.zeros(n, np.float32) for k in ("discount", "valid")}
        out["reward"] = np.zeros(n, np.float64)
        next_obs = np.zeros((n, self.obs_size), np.float32)
        ended = np.zeros(n, bool)
        ep_return = np.full(n, np.nan, np.float32)
        obs = np.zeros((n, self.obs_size), np.float32)
        for i, env in enumerate(self.envs):
            nxt, reward, discount, last, valid = self._step_one(env, actions[i])
            self._steps[i] += 1
            self._returns[i] += reward
            next_obs[i], obs[i] = nxt, nxt
            out["reward"][i], out["discount"][i], out["valid"][i] = reward, discount, valid
            # dm_control's time limit is 1000 steps; a shorter episode_length truncates earlier.
            ended[i] = last or self._steps[i] >= self.episode_length
            if ended[i]:
                ep_return[i] = self._returns[i] if valid else np.nan
                obs[i] = flat_obs(env.reset().observation)
                self._steps[i], self._returns[i] = 0, 0.0
        return HostStep(obs=obs, next_obs=next_obs, ended=ended, episode_return=ep_return, **out)
