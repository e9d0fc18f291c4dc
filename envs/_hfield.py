"""Height fields that change per episode, for MJX (used by quadruped escape).

MJX keeps the height-field elevations in the model (`hfield_data`), which all environments share;
a task that draws its terrain per episode keeps it in `info` and steps with `with_terrain`, a model
whose `hfield_data` is that terrain (under vmap, a per-environment model field). MJX's rays skip
height fields, so `ray_hfield` intersects rangefinder rays with the terrain's triangles, as
MuJoCo's `mj_rayHfield` does, walking the grid cells the ray crosses (a 2-D DDA) instead of
testing every cell of their bounding rectangle.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx


def with_terrain(m: mjx.Model, terrain: jax.Array) -> mjx.Model:
    """The model with its single height field's elevations (row-major, in [0, 1]) replaced."""
    return m.replace(hfield_data=terrain)


class HField:
    """Static geometry of height-field geom `geom` of a compiled model (resolved once)."""

    def __init__(self, m: mujoco.MjModel, geom: int):
        hfield = int(m.geom_dataid[geom])
        if m.nhfield != 1:
            raise ValueError("with_terrain assumes a model with exactly one height field")
        self.nrow, self.ncol = int(m.hfield_nrow[hfield]), int(m.hfield_ncol[hfield])
        self.size = np.asarray(m.hfield_size[hfield], np.float32)  # x, y half-sizes, top, base
        self.cell = 2 * self.size[:2] / (np.array([self.ncol, self.nrow]) - 1)  # dx, dy
        self.geom = geom

    def ray(self, data: mjx.Data, terrain, pnt, vec):
        """Distance along `vec` from `pnt` to the terrain, or -1 (MuJoCo's convention).

        As MuJoCo: the nearest of the surface triangles and the solid base box below them
        (the side walls of the top box are left out: they only matter where the terrain's edge
        is above zero, never in escape's bowl).
        """
        pos, mat = data.geom_xpos[self.geom], data.geom_xmat[self.geom]
        p, v = mat.T @ (pnt - pos), mat.T @ vec
        height = terrain.reshape(self.nrow, self.ncol) * self.size[2]
        sx, sy, top, base = self.size
        t_in, t_out = _slab(p, v, jnp.array([-sx, -sy, 0.0]), jnp.array([sx, sy, top]))
        surface = _walk_cells(self, height, p, v, t_in, t_out)
        b_in, b_out = _slab(p, v, jnp.array([-sx, -sy, -base]), jnp.array([sx, sy, 0.0]))
        # From inside the base the ray leaves through a face (b_in was clipped to 0).
        below = jnp.where(b_in > 0, b_in, b_out)
        below = jnp.where((b_in <= b_out) & (b_out >= 0), below, jnp.inf)
        best = jnp.minimum(surface, below)
        return jnp.where(jnp.isfinite(best), best, -1.0)


def _slab(p, v, lo, hi):
    """Parameter interval [t_in, t_out] (t_in clipped at 0) of the ray inside box [lo, hi]."""
    safe = jnp.where(jnp.abs(v) > 1e-12, v, 1e-12)
    t1, t2 = (lo - p) / safe, (hi - p) / safe
    t_in = jnp.maximum(jnp.max(jnp.minimum(t1, t2)), 0.0)
    t_out = jnp.min(jnp.maximum(t1, t2))
    return t_in, t_out


def _triangle(a, b, c, p, v):
    """Ray parameter of the hit on triangle (a, b, c), inclusive of its edges; inf if none."""
    e1, e2 = b - a, c - a
    q = jnp.cross(v, e2)
    det = jnp.dot(e1, q)
    inv = 1.0 / jnp.where(jnp.abs(det) > 1e-12, det, 1.0)
    s = p - a
    u = jnp.dot(s, q) * inv
    r = jnp.cross(s, e1)
    w = jnp.dot(v, r) * inv
    t = jnp.dot(e2, r) * inv
    hit = (jnp.abs(det) > 1e-12) & (u >= 0) & (w >= 0) & (u + w <= 1) & (t >= 0)
    return jnp.where(hit, t, jnp.inf)


def _cell_hit(hf: HField, height, r, c, p, v):
    """Nearest hit on the two triangles of grid cell (row r, column c), as MuJoCo splits it."""

    def vert(ri, ci):
        xy = jnp.stack([ci, ri]).astype(jnp.float32) * hf.cell - hf.size[:2]
        return jnp.append(xy, height[ri, ci])

    v00, v11 = vert(r, c), vert(r + 1, c + 1)
    t_a = _triangle(v00, v11, vert(r, c + 1), p, v)
    t_b = _triangle(v00, v11, vert(r + 1, c), p, v)
    return jnp.minimum(t_a, t_b)


def _walk_cells(hf: HField, height, p, v, t_in, t_out):
    """Nearest surface hit: visits the cells under the segment [t_in, t_out] in order."""
    cell = jnp.asarray(hf.cell)
    upper = jnp.array([hf.ncol - 2, hf.nrow - 2])  # last cell (column, row)
    start = (p[:2] + t_in * v[:2] + hf.size[:2]) / cell  # continuous (column, row)
    idx = jnp.clip(jnp.floor(start), 0, upper).astype(jnp.int32)
    step = jnp.where(v[:2] >= 0, 1, -1)
    dt = cell / jnp.maximum(jnp.abs(v[:2]), 1e-12)  # ray parameter per cell in each axis
    boundary = idx + (step > 0)  # the next grid line crossed in each axis
    t_next = t_in + jnp.abs(boundary - start) * dt
    hit = jnp.where(t_in <= t_out, _cell_hit(hf, height, idx[1], idx[0], p, v), jnp.inf)

    def more(carry):
        _, t_next, best, inside, n = carry
        # A hit in a later cell lies beyond this cell's exit: stop once one is found before it.
        exit_t = jnp.min(t_next)
        return (best > exit_t) & (exit_t <= t_out) & inside & (n < hf.nrow + hf.ncol)

    def visit(carry):
        idx, t_next, best, _, n = carry
        axis = jnp.argmin(t_next)
        idx = idx.at[axis].add(step[axis])
        t_next = t_next.at[axis].add(dt[axis])
        inside = jnp.all((idx >= 0) & (idx <= upper))
        safe = jnp.clip(idx, 0, upper)
        t = _cell_hit(hf, height, safe[1], safe[0], p, v)
        return idx, t_next, jnp.minimum(best, jnp.where(inside, t, jnp.inf)), inside, n + 1

    carry = (idx, t_next, hit, t_in <= t_out, jnp.zeros((), jnp.int32))
    return jax.lax.while_loop(more, visit, carry)[2]  # inf: no hit
