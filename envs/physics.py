"""Physics stepping with dm_control's data-synchronisation semantics, on MJX.

dm_control's `Physics.step` (legacy mode, the suite default) leaves position- and velocity-dependent
fields (xpos, xmat, site_xpos, subtree_com, pos/vel sensors) in sync with the *new* qpos/qvel, while
acceleration-stage fields (qacc, touch/accelerometer sensors) come from the last substep's forward
pass. A control step here is therefore: n_substeps full MJX steps, then one position+velocity pass
(the MJX counterpart of `mj_step1`). Observations read from the result equal dm_control's.
"""

import jax
import jax.numpy as jnp
from mujoco import mjx
from mujoco.mjx._src import forward as mjx_forward
from mujoco.mjx._src import sensor as mjx_sensor
from mujoco.mjx._src import solver as mjx_solver
from mujoco.mjx._src.types import IntegratorType


def sync_position_velocity(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """Recomputes position/velocity-dependent fields (MuJoCo's mj_step1) for the current state."""
    d = mjx_forward.fwd_position(m, d)
    d = mjx_sensor.sensor_pos(m, d)
    d = mjx_forward.fwd_velocity(m, d)
    return mjx_sensor.sensor_vel(m, d)


def _finish_substep(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """The rest of `mjx.step` after its position/velocity stages: actuation, acceleration, the
    constraint solve and acceleration sensors (mjx.forward's tail), then the integrator."""
    d = mjx_forward.fwd_actuation(m, d)
    d = mjx_forward.fwd_acceleration(m, d)
    if d._impl.efc_J.size == 0:
        d = d.replace(qacc=d.qacc_smooth)
    else:
        d = mjx_solver.solve(m, d)
        d = mjx_sensor.sensor_acc(m, d)
    if m.opt.integrator == IntegratorType.EULER:
        return mjx_forward.euler(m, d)
    if m.opt.integrator == IntegratorType.RK4:
        return mjx_forward.rungekutta4(m, d)
    if m.opt.integrator == IntegratorType.IMPLICITFAST:
        return mjx_forward.implicit(m, d)
    raise NotImplementedError(f"integrator {m.opt.integrator} is not in MJX")


def step(m: mjx.Model, d: mjx.Data, ctrl: jax.Array, n_substeps: int) -> mjx.Data:
    """One control step: set ctrl, n_substeps physics steps, then sync derived fields.

    With more than one substep the loop runs n_substeps + 1 times: each pass computes the
    position/velocity stages, and every pass but the last finishes the substep (a cond on the
    unbatched loop index, so it stays a branch under vmap). The operations are those of
    n_substeps `mjx.step` calls followed by `sync_position_velocity`, in the same order, but the
    program holds the position/velocity code once instead of twice: for heavy models (dog) that
    code is most of the step, and XLA compile time grows with program size.
    """
    d = d.replace(ctrl=ctrl)
    if n_substeps == 1:
        return sync_position_velocity(m, mjx.step(m, d))

    def one_pass(i, x):
        x = sync_position_velocity(m, x)
        return jax.lax.cond(i < n_substeps, lambda y: _finish_substep(m, y), lambda y: y, x)

    return jax.lax.fori_loop(0, n_substeps + 1, one_pass, d)


def forward(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """Full forward pass with zero control (dm_control's `after_reset` disables actuation)."""
    return mjx.forward(m, d.replace(ctrl=jnp.zeros_like(d.ctrl)))


def num_contacts(d: mjx.Data) -> jax.Array:
    """Active contacts (MuJoCo's ncon): MJX keeps all candidate pairs; active ones are in margin."""
    c = d._impl.contact
    if c.dist.shape[0] == 0:
        return jnp.zeros((), jnp.int32)
    return jnp.sum(c.dist < c.includemargin).astype(jnp.int32)


def is_finite(d: mjx.Data) -> jax.Array:
    """False when the physics state went non-finite (dm_control raises PhysicsError there)."""
    return jnp.all(jnp.isfinite(d.qpos)) & jnp.all(jnp.isfinite(d.qvel))
