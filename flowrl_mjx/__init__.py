"""FlowRL on MJX: flow-policy RL fused with DMControl-equivalent envs in one jitted program."""

from flowrl_mjx import jax_setup as _jax_setup

_jax_setup.configure()


def load_policy(run_dir: str, deterministic: bool = True, seed: int = 0):
    """act(obs: np.ndarray) -> np.ndarray for a trained run; see flowrl_mjx.policy_io."""
    from flowrl_mjx.policy_io import load_policy as _load

    return _load(run_dir, deterministic, seed)
