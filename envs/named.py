"""Name -> index helpers on a compiled MjModel (dm_control's `physics.named`, resolved once)."""

import mujoco
import numpy as np

_OBJ = {
    "body": mujoco.mjtObj.mjOBJ_BODY,
    "joint": mujoco.mjtObj.mjOBJ_JOINT,
    "geom": mujoco.mjtObj.mjOBJ_GEOM,
    "site": mujoco.mjtObj.mjOBJ_SITE,
    "sensor": mujoco.mjtObj.mjOBJ_SENSOR,
    "actuator": mujoco.mjtObj.mjOBJ_ACTUATOR,
    "tendon": mujoco.mjtObj.mjOBJ_TENDON,
    "camera": mujoco.mjtObj.mjOBJ_CAMERA,
}


def obj_id(m: mujoco.MjModel, kind: str, name: str) -> int:
    i = mujoco.mj_name2id(m, _OBJ[kind], name)
    if i < 0:
        raise ValueError(f"model has no {kind} named {name!r}")
    return int(i)


def sensor_slice(m: mujoco.MjModel, name: str) -> slice:
    """Slice of data.sensordata holding sensor `name`."""
    i = obj_id(m, "sensor", name)
    adr, dim = int(m.sensor_adr[i]), int(m.sensor_dim[i])
    return slice(adr, adr + dim)


def qpos_slice(m: mujoco.MjModel, joint: str) -> slice:
    j = obj_id(m, "joint", joint)
    start = int(m.jnt_qposadr[j])
    end = int(m.jnt_qposadr[j + 1]) if j + 1 < m.njnt else m.nq
    return slice(start, end)


def qvel_slice(m: mujoco.MjModel, joint: str) -> slice:
    j = obj_id(m, "joint", joint)
    start = int(m.jnt_dofadr[j])
    end = int(m.jnt_dofadr[j + 1]) if j + 1 < m.njnt else m.nv
    return slice(start, end)


def ids(m: mujoco.MjModel, kind: str, names) -> np.ndarray:
    return np.array([obj_id(m, kind, n) for n in names], dtype=np.int32)
