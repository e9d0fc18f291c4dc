"""Flow-matching conventions and fixed-step ODE integrators, independent of any network.

Time convention (the only place it is written): t = 0 is the noise a0, t = 1 is the action a1.
The straight (rectified / conditional-OT) path between them is a_t = t * a1 + (1 - t) * a0, whose
velocity d a_t / d t = a1 - a0 is the flow-matching regression target (Lv et al. 2025).

Integrators take `v_fn(a_t, t) -> velocity` with t a float32 scalar, and take `n` fixed steps of
size 1/n from t = 0 to t = 1. `n` is a static Python int (the loop is unrolled: n is small, 1 by
default, and unrolling keeps the steps differentiable and fusible).
"""

import jax.numpy as jnp


def interpolate(a0, a1, t):
    """a_t = t * a1 + (1 - t) * a0; t is a scalar or has shape a0.shape[:-1] (one t per row)."""
    t = jnp.asarray(t, a0.dtype)
    if t.ndim:
        t = t[..., None]
    return t * a1 + (1.0 - t) * a0


def target_velocity(a0, a1):
    """Velocity of the straight path from a0 (t = 0) to a1 (t = 1): a1 - a0, independent of t."""
    return a1 - a0


def euler(v_fn, a0, n: int):
    """Explicit Euler: a <- a + h v(a, t), h = 1/n. First order (global error O(h))."""
    h = 1.0 / n
    a = a0
    for i in range(n):
        a = a + h * v_fn(a, jnp.float32(i * h))
    return a


def midpoint(v_fn, a0, n: int):
    """Explicit midpoint (RK2): a <- a + h v(a + h/2 v(a, t), t + h/2). Second order, 2n evals."""
    h = 1.0 / n
    a = a0
    for i in range(n):
        t = i * h
        a_mid = a + 0.5 * h * v_fn(a, jnp.float32(t))
        a = a + h * v_fn(a_mid, jnp.float32(t + 0.5 * h))
    return a


INTEGRATORS = {"euler": euler, "midpoint": midpoint}
