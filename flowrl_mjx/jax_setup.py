"""Process-wide JAX settings, applied on import of `envs` and `flowrl_mjx`.

On CPU, jax's asynchronous dispatch can leave a process idle forever once one jitted MJX step is
compiled for a third batch size (seen with jax 0.10.2 on 2 cores, DESIGN.md s6); synchronous
dispatch avoids it at no measurable cost for our large fused programs. The regression test is
tests/test_jax_setup.py.
"""

import jax


def configure() -> None:
    jax.config.update("jax_cpu_enable_async_dispatch", False)
