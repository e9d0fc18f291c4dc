"""FlowRL on MJX: flow-policy RL fused with DMControl-equivalent envs in one jitted program."""

from flowrl_mjx import jax_setup as _jax_setup

_jax_setup.configure()
