"""Process-wide JAX settings, applied on import of `envs` and `flowrl_mjx`, and compile options.

- On CPU, jax's asynchronous dispatch can leave a process idle forever once one jitted MJX step is
  compiled for a third batch size (seen with jax 0.10.2, docs/design.md s6); synchronous
  dispatch avoids it at no measurable cost for our large fused programs.
- XLA:CPU's fusion emitters (on by default in jax 0.8) make MJX kinematics of a large model run
  orders of magnitude slower when one env (no batch axis, or a batch of one) is stepped inside a
  loop (humanoid_CMU's control step, a loop over physics steps; dog's vmapped step at one env);
  humanoid_CMU's kinematics loop at a batch of 2 runs at normal speed. Turning the emitters off
  for the whole process would slow the updates, and batched env-only steps of most tasks, while
  one env runs as fast without them (figures: results/perf_changes.md, the fusion-emitter
  entries). So programs of one env compile without them: `jit_env` picks the
  options from the env count (evaluation.py, evaluate.py, bench_envs), `jit_single_env` is the
  unbatched case (the parity harness).
- Some tasks hit the slowdown batched too (swimmer, humanoid_CMU, manipulator, stacker; dog's
  batched step did not even compile in 15 minutes with the emitters; results/perf_changes.md,
  results/bench_envs_cpu_emitters_off.md): their class sets
  `cpu_fusion_emitters = False`, and on CPU their env programs and training epoch compile without
  the emitters at every env count (`jit_env(..., env=...)`, and `jit_task` for the training
  epoch and other programs that mix env steps with updates).
- mujoco.mjx prints "Failed to import warp: ..." to stdout on import when the optional warp-lang
  package is absent (its warp backend is unused here: impl="jax"). configure() imports it once
  with stdout captured, so a run's stdout holds only the run's own lines.
- dm_control's import tries GLFW first, and on a machine without a display the glfw package warns
  "X11: The DISPLAY environment variable is missing" (rendering then falls back to EGL/OSMesa, and
  training never renders). configure() ignores that one warning; every other warning stays.

The regression tests are in tests/test_jax_setup.py.
"""

import contextlib
import io
import warnings
from typing import Optional

import jax

# Compile options of single-env programs on CPU (see above).
SINGLE_ENV_CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def configure() -> None:
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    warnings.filterwarnings("ignore", message=r".*The DISPLAY environment variable is missing")
    with contextlib.redirect_stdout(io.StringIO()):
        import mujoco.mjx  # noqa: F401


def without_fusion_emitters(
    num_envs: Optional[int], env=None, emitters: Optional[bool] = None
) -> bool:
    """Whether a program of `num_envs` envs of `env`'s task compiles without XLA:CPU's fusion
    emitters: one env, or a task whose `cpu_fusion_emitters` is False. `num_envs=None` is a
    program mixing env steps with other work (only the task's rule applies); `emitters` True or
    False overrides the rule (benchmarks comparing both). Always False off CPU."""
    if jax.default_backend() != "cpu":
        return False
    if emitters is not None:
        return not emitters
    return num_envs == 1 or not getattr(env, "cpu_fusion_emitters", True)


def jit_env(fn, num_envs: Optional[int], env=None, *, emitters: Optional[bool] = None, **kwargs):
    """jax.jit for a program stepping `num_envs` envs of `env`, with the options they need."""
    if without_fusion_emitters(num_envs, env, emitters):
        kwargs["compiler_options"] = SINGLE_ENV_CPU_OPTIONS
    return jax.jit(fn, **kwargs)


def jit_task(fn, env, **kwargs):
    """jax.jit for a program mixing env steps of `env`'s task with other work (the training
    epoch): the emitters stay on (the updates run slower without them, results/perf_changes.md)
    unless the task says no."""
    return jit_env(fn, num_envs=None, env=env, **kwargs)


def jit_single_env(fn, **kwargs):
    """jax.jit for a program that steps one env (no batch axis), e.g. in a loop of substeps."""
    return jit_env(fn, 1, **kwargs)
