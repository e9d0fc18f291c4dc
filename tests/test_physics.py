"""envs.physics.step: the control step with its position/velocity code held once.

It must compute what n `mjx.step` calls and then `sync_position_velocity` compute (dm_control's
legacy step), for every integrator the tasks use, and its program must be smaller than that
reference's (the point of the loop: XLA compile time grows with program size).
"""

import jax
import numpy as np
import pytest
from mujoco import mjx

import envs
from envs import jax_setup, physics

FIELDS = ("qpos", "qvel", "qacc", "act", "xpos", "xquat", "sensordata", "qfrc_constraint", "cvel")


def _reference_step(m, d, ctrl, n):
    d = d.replace(ctrl=ctrl)
    d = jax.lax.fori_loop(0, n, lambda _, x: mjx.step(m, x), d)
    return physics.sync_position_velocity(m, d)


# hopper: Euler with contacts, its own 4 substeps; cartpole: RK4 (its task steps once; 3 here).
@pytest.mark.parametrize(
    "task,n", [("hopper_hop", 4), pytest.param("cartpole_swingup", 3, marks=pytest.mark.slow)]
)
def test_step_matches_substeps_then_sync(task, n):
    env = envs.load(task)
    m = env.mjx_model
    # One-env programs compile with the options the envs use for one env (jax_setup).
    ref = jax_setup.jit_single_env(lambda d, c: _reference_step(m, d, c, n))
    ours = jax_setup.jit_single_env(lambda d, c: physics.step(m, d, c, n))
    d_ref = d_ours = jax_setup.jit_single_env(env.reset)(jax.random.PRNGKey(0)).pipeline_state
    rng = np.random.default_rng(0)
    for _ in range(5):
        ctrl = rng.uniform(-1.0, 1.0, d_ref.ctrl.shape).astype(np.float32)
        d_ref, d_ours = ref(d_ref, ctrl), ours(d_ours, ctrl)
    for name in FIELDS:
        np.testing.assert_allclose(
            np.asarray(getattr(d_ours, name)), np.asarray(getattr(d_ref, name)),
            rtol=1e-5, atol=1e-5, err_msg=name,
        )  # fmt: skip


def test_step_program_holds_position_velocity_code_once():
    env = envs.load("hopper_hop")
    m, n = env.mjx_model, env.n_substeps
    d = jax.eval_shape(lambda: mjx.make_data(m))
    ctrl = jax.ShapeDtypeStruct(d.ctrl.shape, d.ctrl.dtype)

    def ops(fn):
        return jax.jit(fn).lower(d, ctrl).as_text().count(" = ")

    ours = ops(lambda d, c: physics.step(m, d, c, n))
    ref = ops(lambda d, c: _reference_step(m, d, c, n))
    sync = ops(lambda d, c: physics.sync_position_velocity(m, d))
    # The reference holds the sync once more than ours; ours adds only a cond and a loop.
    assert ours < ref - 0.5 * sync, (ours, ref, sync)
