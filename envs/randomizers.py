"""Initial-state samplers matching dm_control.suite.utils.randomizers, in JAX.

Rules (as dm_control applies them, joint by joint):
- limited hinge/slide: uniform in the joint range;
- unlimited hinge: uniform in [-pi, pi]; unlimited slide: left as it was;
- free: orientation = normalised U[0, 1)^4 (dm_control's choice, not uniform on the sphere);
  its position is left as it was.
No suite task randomises ball joints through these helpers, so they are not implemented; the
helpers refuse models with joint types they do not handle.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

_HINGE, _SLIDE = mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE
_FREE = mujoco.mjtJoint.mjJNT_FREE


def randomize_hinges_and_slides(mj_model: mujoco.MjModel, key, qpos):
    """dm_control's rules for a model whose joints are all hinges and slides, in one draw.

    One vectorised uniform draw for all joints (cheap to trace); used by the planar domains.
    """
    jtype = np.asarray(mj_model.jnt_type, dtype=int)
    if not np.all((jtype == int(_HINGE)) | (jtype == int(_SLIDE))):
        raise ValueError("randomize_hinges_and_slides needs a model with only hinge/slide joints")
    limited = np.asarray(mj_model.jnt_limited, dtype=bool)
    drawn = limited | (jtype == int(_HINGE))
    lo = np.where(limited, mj_model.jnt_range[:, 0], -np.pi)[drawn]
    hi = np.where(limited, mj_model.jnt_range[:, 1], np.pi)[drawn]
    adr = np.asarray(mj_model.jnt_qposadr)[drawn]
    return qpos.at[adr].set(jax.random.uniform(key, lo.shape, minval=lo, maxval=hi))


def randomize_free_hinges_and_slides(mj_model: mujoco.MjModel, key, qpos):
    """The same rules for a model of free joints plus hinges/slides (the humanoids), vectorised.

    One uniform draw for all hinges/slides and one per free joint's orientation; free-joint
    positions keep their value, as in dm_control.
    """
    jtype = np.asarray(mj_model.jnt_type, dtype=int)
    free = jtype == int(_FREE)
    if not np.all(free | (jtype == int(_HINGE)) | (jtype == int(_SLIDE))):
        raise ValueError("randomize_free_hinges_and_slides needs only free/hinge/slide joints")
    limited = np.asarray(mj_model.jnt_limited, dtype=bool) & ~free
    drawn = limited | (jtype == int(_HINGE))
    lo = np.where(limited, mj_model.jnt_range[:, 0], -np.pi)[drawn]
    hi = np.where(limited, mj_model.jnt_range[:, 1], np.pi)[drawn]
    adr = np.asarray(mj_model.jnt_qposadr)[drawn]
    key_hinge, key_free = jax.random.split(key)
    qpos = qpos.at[adr].set(jax.random.uniform(key_hinge, lo.shape, minval=lo, maxval=hi))
    quat_adr = np.asarray(mj_model.jnt_qposadr)[free][:, None] + np.arange(3, 7)
    quat = jax.random.uniform(key_free, quat_adr.shape)
    return qpos.at[quat_adr].set(quat / jnp.linalg.norm(quat, axis=-1, keepdims=True))
