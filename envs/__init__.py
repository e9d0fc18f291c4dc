"""DMControl-equivalent tasks in MuJoCo MJX (see docs/design.md s2).

import envs
env = envs.load("cheetah_run")
state = env.reset(key); state = env.step(state, action)
"""

from envs import jax_setup as _jax_setup

_jax_setup.configure()

from envs.registry import PAPER_TASKS, get_class, load, names, unsupported  # noqa: E402

__all__ = ["PAPER_TASKS", "get_class", "load", "names", "unsupported"]
