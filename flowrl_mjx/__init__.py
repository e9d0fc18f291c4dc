"""FlowRL on MJX: flow-policy RL fused with DMControl-equivalent envs in one jitted program.

The Python API (flowrl_mjx.runtime.api): `flowrl_mjx.run(task, num_envs=..., total_env_steps=...,
**overrides)` trains as the CLI does and returns a RunResult; `flowrl_mjx.load_run(run_dir)`
reads a run dir back (settings, Config, metrics rows, summary, policy); `load_policy(run_dir)`
gives act(obs) -> action. All three import their (heavy) modules on first use.
"""

from envs import jax_setup as _jax_setup

_jax_setup.configure()


def load_policy(run_dir: str, deterministic: bool = True, seed: int = 0):
    """act(obs: np.ndarray) -> np.ndarray for a trained run; see flowrl_mjx.runtime.policy_io."""
    from flowrl_mjx.runtime.policy_io import load_policy as _load

    return _load(run_dir, deterministic, seed)


def load_run(run_dir):
    """A run dir's settings, Config, LoopConfig, metrics rows and summary; see
    flowrl_mjx.runtime.api."""
    from flowrl_mjx.runtime.api import load_run as _load

    return _load(run_dir)


def run(task: str, **kwargs):
    """One training run, as `python -m flowrl_mjx.launch` does it: flowrl_mjx.runtime.api.train (its
    arguments, a RunResult back). Named `run` because `flowrl_mjx.algorithm.train` is the
    training-program module."""
    from flowrl_mjx.runtime.api import train as _train

    return _train(task, **kwargs)
