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


def sync_position_velocity(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """Recomputes position/velocity-dependent fields (MuJoCo's mj_step1) for the current state."""
    d = mjx_forward.fwd_position(m, d)
    d = mjx_sensor.sensor_pos(m, d)
    d = mjx_forward.fwd_velocity(m, d)
    return mjx_sensor.sensor_vel(m, d)


def step(m: mjx.Model, d: mjx.Data, ctrl: jax.Array, n_substeps: int) -> mjx.Data:
    """One control step: set ctrl, n_substeps physics steps, then sync derived fields."""
    d = d.replace(ctrl=ctrl)
    if n_substeps == 1:
        d = mjx.step(m, d)
    else:
        d = jax.lax.fori_loop(0, n_substeps, lambda _, x: mjx.step(m, x), d)
    return sync_position_velocity(m, d)


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
