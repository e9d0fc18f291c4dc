"""Quadruped escape's terrain for MJX: dm_control's random bowl, and mesh collision stand-ins.

The terrain is dm_control's (`Escape.initialize_episode`): a sinusoidal bowl times smooth random
bumps, cubic-spline zoomed from a coarse grid. The zoom is linear and separable, so it is a fixed
matrix here (built once with scipy, the same function dm_control calls) applied on each side.
"""

import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np

from envs import model_io

_SMOOTHNESS = 0.15  # bumps are uniform in [_SMOOTHNESS, 1] (dm_control's _TERRAIN_SMOOTHNESS)
_BUMP_SCALE = 2.0  # m: spatial scale of the bumps (dm_control's _TERRAIN_BUMP_SCALE)
_MIN_RADIUS = 0.04  # the bowl's normalised radius is clipped to [_MIN_RADIUS, 1]
# Collision stand-ins: convex hulls of points on the torso ellipsoid and the eye cylinders.
_ELLIPSOID_RINGS, _RING_POINTS = 8, 12  # latitude rings (plus 2 poles) x points per ring


class Terrain:
    """Samples escape terrains for a height field of `res` x `res` points and half-size `half`."""

    def __init__(self, res: int, half: float):
        from scipy import ndimage  # a jax dependency; only needed to build the matrices

        rows, cols = np.ogrid[-1 : 1 : res * 1j, -1 : 1 : res * 1j]
        radius = np.clip(np.sqrt(cols**2 + rows**2), _MIN_RADIUS, 1)
        self.bowl = jnp.asarray(0.5 - np.cos(2 * np.pi * radius) / 2, jnp.float32)
        self.n_bumps = int(2 * half / _BUMP_SCALE)
        eye = np.eye(self.n_bumps)
        zoom = [ndimage.zoom(eye[j], res / float(self.n_bumps)) for j in range(self.n_bumps)]
        self.zoom = jnp.asarray(np.stack(zoom, axis=1), jnp.float32)  # (res, n_bumps)

    def sample(self, key) -> jax.Array:
        """A terrain (row-major elevations in [0, 1]), as dm_control draws it."""
        bumps = jax.random.uniform(key, (self.n_bumps, self.n_bumps), minval=_SMOOTHNESS)
        return (self.bowl * (self.zoom @ bumps @ self.zoom.T)).ravel()


def _ellipsoid_points(size):
    lat = np.pi * np.arange(1, _ELLIPSOID_RINGS + 1) / (_ELLIPSOID_RINGS + 1)
    lon = 2 * np.pi * np.arange(_RING_POINTS) / _RING_POINTS
    ring = np.stack([np.outer(np.sin(lat), np.cos(lon)), np.outer(np.sin(lat), np.sin(lon)),
                     np.outer(np.cos(lat), np.ones_like(lon))], axis=-1).reshape(-1, 3)  # fmt: skip
    return np.concatenate([ring, [[0, 0, 1], [0, 0, -1]]]) * size


def _cylinder_points(start, end, radius):
    start, end = np.asarray(start), np.asarray(end)
    axis = (end - start) / np.linalg.norm(end - start)
    u = np.cross(axis, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    angle = 2 * np.pi * np.arange(_RING_POINTS) / _RING_POINTS
    circle = radius * (np.outer(np.cos(angle), u) + np.outer(np.sin(angle), w))
    return np.concatenate([start + circle, end + circle])


def _geom_shape_points(geom: ET.Element) -> np.ndarray:
    size = np.array(geom.get("size").split(), float)
    if geom.get("type") == "ellipsoid":
        return _ellipsoid_points(size) + np.array(geom.get("pos", "0 0 0").split(), float)
    ends = np.array(geom.get("fromto").split(), float)
    return _cylinder_points(ends[:3], ends[3:], size[0])


def _mesh_stand_ins(root: ET.Element) -> None:
    geoms = {g.get("name"): g for g in root.iter("geom")}
    torso = next(b for b in root.iter("body") if b.get("name") == "torso")
    shape = geoms["torso"]
    assert shape.get("type") == "ellipsoid" and "pos" not in shape.attrib
    # The torso's inertia stays the ellipsoid's (the eyes are massless): given explicitly.
    a, b, c = (float(x) for x in shape.get("size").split())
    mass = float(shape.get("density")) * 4 / 3 * np.pi * a * b * c
    inertia = mass / 5 * np.array([b * b + c * c, a * a + c * c, a * a + b * b])
    inertial = ET.Element("inertial", pos="0 0 0", mass=repr(mass),
                          diaginertia=" ".join(repr(float(i)) for i in inertia))  # fmt: skip
    torso.insert(0, inertial)
    asset = ET.SubElement(root, "asset")
    for name in ("torso", "eye_r", "eye_l"):
        geom = geoms[name]
        points = _geom_shape_points(geom)  # in the body frame
        vertex = " ".join(f"{x:.6f}" for x in points.ravel())
        ET.SubElement(asset, "mesh", name=f"{name}_hull", vertex=vertex)
        for attr in ("size", "fromto", "pos"):
            geom.attrib.pop(attr, None)
        geom.set("type", "mesh")
        geom.set("mesh", f"{name}_hull")


MESH_STAND_INS = model_io.Patch(
    "quadruped_mesh_torso_and_eyes",
    "MJX 3.17 has no height-field collision for ellipsoids or cylinders: the torso ellipsoid and"
    " the eye cylinders become convex meshes through points on their surfaces"
    f" ({_ELLIPSOID_RINGS * _RING_POINTS + 2} and {2 * _RING_POINTS}; up to ~1 cm inside the"
    " true shape) for all their contacts; the torso keeps the ellipsoid's mass and inertia.",
    xml=_mesh_stand_ins,
    changes_dynamics=True,
)
