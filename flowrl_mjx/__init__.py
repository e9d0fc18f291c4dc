"""FlowRL on MJX: flow-policy RL fused with DMControl-equivalent envs in one jitted program.

The Python API (flowrl_mjx.api): `flowrl_mjx.train(task, num_envs=..., total_env_steps=...,
**overrides)` trains as the CLI does and returns a RunResult; `flowrl_mjx.load_run(run_dir)`
reads a run dir back (settings, Config, metrics rows, summary, policy); `load_policy(run_dir)`
gives act(obs) -> action. All three import their (heavy) modules on first use.
"""

import importlib

from flowrl_mjx import jax_setup as _jax_setup

_jax_setup.configure()


def load_policy(run_dir: str, deterministic: bool = True, seed: int = 0):
    """act(obs: np.ndarray) -> np.ndarray for a trained run; see flowrl_mjx.policy_io."""
    from flowrl_mjx.policy_io import load_policy as _load

    return _load(run_dir, deterministic, seed)


def load_run(run_dir):
    """A run dir's settings, Config, LoopConfig, metrics rows and summary; see flowrl_mjx.api."""
    from flowrl_mjx.api import load_run as _load

    return _load(run_dir)


def __getattr__(name):
    """`flowrl_mjx.train` before anything imported it: the training-program module, which is
    callable as the API's train (see the end of flowrl_mjx/train.py); imported on first use so
    `import flowrl_mjx` stays as cheap as it was."""
    if name == "train":
        return importlib.import_module("flowrl_mjx.train")
    raise AttributeError(f"module 'flowrl_mjx' has no attribute {name!r}")
