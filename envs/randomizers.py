"""Initial-state samplers matching dm_control.suite.utils.randomizers, in JAX.

Rules (as dm_control applies them, joint by joint):
- limited hinge/slide: uniform in the joint range;
- limited ball: rotation of angle U(0, range_max) about a uniformly random axis;
- unlimited hinge: uniform in [-pi, pi];
- unlimited ball: uniform unit quaternion (normalised Gaussian);
- free: orientation = normalised U[0, 1)^4 (dm_control's choice, not uniform on the sphere);
  its position is left as it was.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

_HINGE, _SLIDE = mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE
_BALL, _FREE = mujoco.mjtJoint.mjJNT_BALL, mujoco.mjtJoint.mjJNT_FREE


def axis_angle_quat(axis, angle):
    """Unit quaternion (w, x, y, z) of a rotation by `angle` about the unit vector `axis`."""
    return jnp.concatenate([jnp.cos(angle / 2)[None], jnp.sin(angle / 2) * axis])


def randomize_limited_and_rotational_joints(mj_model: mujoco.MjModel, key, qpos):
    """Returns qpos with every joint randomised by dm_control's rules (see module doc)."""
    for j in range(mj_model.njnt):
        key, k1, k2 = jax.random.split(key, 3)
        adr = int(mj_model.jnt_qposadr[j])
        jtype = mj_model.jnt_type[j]
        lo, hi = (float(v) for v in mj_model.jnt_range[j])
        if mj_model.jnt_limited[j]:
            if jtype in (_HINGE, _SLIDE):
                qpos = qpos.at[adr].set(jax.random.uniform(k1, (), minval=lo, maxval=hi))
            elif jtype == _BALL:
                axis = jax.random.normal(k1, (3,))
                axis = axis / jnp.linalg.norm(axis)
                angle = jax.random.uniform(k2, ()) * hi
                qpos = qpos.at[adr : adr + 4].set(axis_angle_quat(axis, angle))
        elif jtype == _HINGE:
            qpos = qpos.at[adr].set(jax.random.uniform(k1, (), minval=-np.pi, maxval=np.pi))
        elif jtype == _BALL:
            quat = jax.random.normal(k1, (4,))
            qpos = qpos.at[adr : adr + 4].set(quat / jnp.linalg.norm(quat))
        elif jtype == _FREE:
            quat = jax.random.uniform(k1, (4,))
            qpos = qpos.at[adr + 3 : adr + 7].set(quat / jnp.linalg.norm(quat))
    return qpos


def randomize_hinges_and_slides(mj_model: mujoco.MjModel, key, qpos):
    """The same rules for a model whose joints are all hinges and slides, in one vectorised draw.

    Cheaper to trace than the per-joint loop above (one uniform draw for all joints); used by the
    planar domains (walker, hopper). Unlimited slides keep their value, as in dm_control.
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
