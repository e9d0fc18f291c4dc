"""Regressions of envs.jax_setup: a third batch size must compile without hanging, and MJX
kinematics inside a vmapped loop must run at normal speed
(compiled through jax_setup.jit_env, which picks the options from the env count).

jax 0.10.2 on a 2-core CPU hung forever at the third size (docs/design.md s6); envs.jax_setup
applies the fix on import. Run in a subprocess so a hang is a failure, not a stuck suite.
"""

import os
import subprocess
import sys
import textwrap

import jax
import pytest

from envs import jax_setup
from flowrl_mjx.algorithm import train

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


def _finishes(script: str, timeout: float) -> None:
    """Runs `script` in a fresh process: it must end, cleanly, within `timeout` seconds."""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("done")


@pytest.mark.slow  # ~45 s; the hang was seen with jax 0.10.2: run -m slow when the jax pin moves
def test_third_batch_size_compiles_without_hanging():
    _finishes(SCRIPT, timeout=400)


LOOP_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp
    import envs
    from mujoco import mjx
    from mujoco.mjx._src import smooth
    from envs import jax_setup
    env = envs.load("humanoid_CMU_stand")
    kin = jax.vmap(lambda d: smooth.kinematics(env.mjx_model, d))
    # one env (the shape that showed it), in a random pose
    d = jax.vmap(lambda _: mjx.make_data(env.mjx_model))(jnp.arange(1))
    d = d.replace(qpos=d.qpos + 0.1 * jax.random.normal(jax.random.PRNGKey(0), d.qpos.shape))
    loop = jax_setup.jit_env(
        lambda d: jax.lax.scan(lambda c, _: (kin(c), None), d, None, length=10)[0], num_envs=1)
    jax.block_until_ready(loop(d))
    print("done")
""")


@pytest.mark.slow  # ~30 s; like the hang above, a check for when the jax pin moves (the rule
# itself, one env -> no emitters, is checked by the tests below in milliseconds)
def test_mjx_kinematics_in_a_vmapped_loop_is_not_pathological():
    """With XLA:CPU's fusion emitters these 10 passes did not end within 60 s; without: ms each."""
    _finishes(LOOP_SCRIPT, timeout=150)


def test_jit_env_drops_fusion_emitters_only_for_one_env(monkeypatch):
    """Batches of most tasks keep XLA's default: without emitters 64-1024 envs stepped 5-30%
    slower (cheetah, walker, humanoid)."""
    calls = []
    monkeypatch.setattr(jax_setup.jax, "jit", lambda fn, **kw: calls.append(kw) or fn)
    jax_setup.jit_env(abs, num_envs=64, donate_argnums=0)
    jax_setup.jit_env(abs, num_envs=1, donate_argnums=0)
    on_cpu = jax.default_backend() == "cpu"
    assert calls[0] == {"donate_argnums": 0}
    assert calls[1].get("compiler_options") == (
        jax_setup.SINGLE_ENV_CPU_OPTIONS if on_cpu else None
    )
    assert calls[1]["donate_argnums"] == 0


class _Task:
    def __init__(self, cpu_fusion_emitters: bool):
        self.cpu_fusion_emitters = cpu_fusion_emitters


def test_tasks_can_drop_fusion_emitters_at_every_env_count(monkeypatch):
    """swimmer & co. (cpu_fusion_emitters False) compile without them batched and in training;
    other tasks keep them there; the training epoch keeps them even for one env."""
    calls = []
    monkeypatch.setattr(jax_setup.jax, "jit", lambda fn, **kw: calls.append(kw) or fn)
    slow, fine = _Task(False), _Task(True)
    jax_setup.jit_env(abs, 1024, slow)
    jax_setup.jit_env(abs, 1024, fine)
    jax_setup.jit_task(abs, slow, donate_argnums=0)
    jax_setup.jit_task(abs, fine)
    off = jax_setup.SINGLE_ENV_CPU_OPTIONS if jax.default_backend() == "cpu" else None
    assert [c.get("compiler_options") for c in calls] == [off, None, off, None]
    assert calls[2]["donate_argnums"] == 0


def test_emitters_override_beats_the_rule(monkeypatch):
    """bench_envs' --fusion_emitters on|off: the override wins over both the one-env and the
    task rule."""
    calls = []
    monkeypatch.setattr(jax_setup.jax, "jit", lambda fn, **kw: calls.append(kw) or fn)
    jax_setup.jit_env(abs, 1, emitters=True)
    jax_setup.jit_env(abs, 1024, _Task(False), emitters=True)
    jax_setup.jit_env(abs, 1024, _Task(True), emitters=False)
    off = jax_setup.SINGLE_ENV_CPU_OPTIONS if jax.default_backend() == "cpu" else None
    assert [c.get("compiler_options") for c in calls] == [None, None, off]


def test_tasks_that_drop_the_emitters():
    """Exactly the domains whose batched slowdown (or batched compile) was measured (see their
    class comments)."""
    import envs

    domains = {envs.get_class(n).domain for n in envs.names()
               if not envs.get_class(n).cpu_fusion_emitters}  # fmt: skip
    assert domains == {"swimmer", "humanoid_CMU", "manipulator", "stacker", "dog"}


def test_loading_a_task_without_a_display_prints_nothing():
    """Importing the envs and loading a task (dm_control's model, whose import probes GLFW) on a
    machine without a display writes nothing to stdout or stderr: a run's first lines are ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MUJOCO_GL")}
    out = subprocess.run([sys.executable, "-c", "import envs; envs.load('cartpole_balance')"],
                         capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == "" and out.stderr == "", (out.stdout, out.stderr)


def _no_emitters_env():
    import envs

    env = envs.load("cartpole_balance", episode_length=20)
    env.cpu_fusion_emitters = False  # as dog's class says, on this one instance
    assert jax_setup.without_fusion_emitters(None, env) == (jax.default_backend() == "cpu")
    return env


def test_a_task_without_emitters_builds_state_shapes_and_seed_programs():
    """train.abstract_state (what a resume, a device layout and the seeds' axes are built from)
    traces the env reset inside another trace, where jax refuses a jit that carries compile
    options; the seeds' evaluate jits the unjitted, vmapped evaluate with the task's options."""
    from flowrl_mjx.algorithm import seeds
    from flowrl_mjx.runtime import mjx_backend
    from tests.tiny import CFG, LOOP

    env = _no_emitters_env()
    venv = mjx_backend.programs(CFG, LOOP, env, num_seeds=2)[0]  # the seeds' axes: shapes
    assert train.abstract_state(CFG, LOOP, venv).env.obs.shape == (LOOP.num_envs, 5)
    evaluate = seeds.make_evaluate(lambda p, k: {"r": jax.numpy.sum(p) + k[0]}, 2, env)
    assert evaluate(jax.numpy.ones((2, 3)), jax.numpy.zeros((2, 2), jax.numpy.uint32))[
        "r"
    ].shape == (2,)


@pytest.mark.slow  # ~10 s: traces the whole evaluation of a tiny task
def test_the_seeds_evaluate_of_a_task_without_emitters_lowers():
    from flowrl_mjx.runtime import mjx_backend
    from tests.tiny import CFG, LOOP

    venv, _, evaluate = mjx_backend.programs(CFG, LOOP, _no_emitters_env(), num_seeds=2)
    actor = train.abstract_state(CFG, LOOP, venv).agent.params.actor
    stacked = jax.tree.map(lambda x: jax.ShapeDtypeStruct((2, *x.shape), x.dtype), actor)
    keys = jax.ShapeDtypeStruct((2, *jax.random.PRNGKey(0).shape), jax.numpy.uint32)
    assert "stablehlo.while" in evaluate.lower(stacked, keys).as_text()
