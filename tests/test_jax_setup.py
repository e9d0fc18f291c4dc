"""Regression: one jitted MJX step compiled for three batch sizes in one process must finish.

jax 0.10.2 on a 2-core CPU hung forever at the third size (DESIGN.md s6); flowrl_mjx.jax_setup
applies the fix on import. Run in a subprocess so a hang is a failure, not a stuck suite.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp
    import envs
    from envs import physics
    from mujoco import mjx
    assert not jax.config.read("jax_cpu_enable_async_dispatch")
    env = envs.load("cheetah_run")
    step = jax.jit(jax.vmap(lambda d: physics.step(env.mjx_model, d, d.ctrl, 1)))
    for n in (1, 2, 3):
        d = jax.vmap(lambda _: mjx.make_data(env.mjx_model))(jnp.arange(n))
        jax.block_until_ready(step(d))
    print("done")
""")


def test_third_batch_size_compiles_without_hanging():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=400)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("done")
