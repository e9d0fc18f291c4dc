"""JAX port of dm_control's `rewards.tolerance` (same maths, written from its definition).

tolerance(x, bounds=(lo, hi), margin, sigmoid, value_at_margin) is 1 inside [lo, hi] and decays
outside with the chosen sigmoid, reaching `value_at_margin` at distance `margin` from the bounds.
"""

import jax.numpy as jnp

SIGMOIDS = (
    "gaussian",
    "hyperbolic",
    "long_tail",
    "reciprocal",
    "cosine",
    "linear",
    "quadratic",
    "tanh_squared",
)


def _sigmoid(x, value_at_1, sigmoid):
    """Maps x >= 0 to (0, 1], equal to 1 at x = 0 and `value_at_1` at x = 1."""
    if sigmoid in ("cosine", "linear", "quadratic"):
        if not 0 <= value_at_1 < 1:
            raise ValueError(f"value_at_1 must be in [0, 1) for {sigmoid}, got {value_at_1}")
    elif not 0 < value_at_1 < 1:
        raise ValueError(f"value_at_1 must be in (0, 1) for {sigmoid}, got {value_at_1}")

    if sigmoid == "gaussian":
        scale = jnp.sqrt(-2 * jnp.log(value_at_1))
        return jnp.exp(-0.5 * (x * scale) ** 2)
    if sigmoid == "hyperbolic":
        scale = jnp.arccosh(1 / value_at_1)
        return 1 / jnp.cosh(x * scale)
    if sigmoid == "long_tail":
        scale = jnp.sqrt(1 / value_at_1 - 1)
        return 1 / ((x * scale) ** 2 + 1)
    if sigmoid == "reciprocal":
        scale = 1 / value_at_1 - 1
        return 1 / (jnp.abs(x) * scale + 1)
    if sigmoid == "cosine":
        scale = jnp.arccos(2 * value_at_1 - 1) / jnp.pi
        scaled = x * scale
        return jnp.where(jnp.abs(scaled) < 1, (1 + jnp.cos(jnp.pi * scaled)) / 2, 0.0)
    if sigmoid == "linear":
        scaled = x * (1 - value_at_1)
        return jnp.where(jnp.abs(scaled) < 1, 1 - scaled, 0.0)
    if sigmoid == "quadratic":
        scaled = x * jnp.sqrt(1 - value_at_1)
        return jnp.where(jnp.abs(scaled) < 1, 1 - scaled**2, 0.0)
    if sigmoid == "tanh_squared":
        scale = jnp.arctanh(jnp.sqrt(1 - value_at_1))
        return 1 - jnp.tanh(x * scale) ** 2
    raise ValueError(f"unknown sigmoid {sigmoid!r}; valid: {', '.join(SIGMOIDS)}")


def tolerance(x, bounds=(0.0, 0.0), margin=0.0, sigmoid="gaussian", value_at_margin=0.1):
    """1 when lower <= x <= upper, else sigmoid(distance to the bounds / margin)."""
    lower, upper = bounds
    if lower > upper:
        raise ValueError("lower bound must be <= upper bound")
    if margin < 0:
        raise ValueError("margin must be non-negative")
    x = jnp.asarray(x)
    in_bounds = jnp.logical_and(lower <= x, x <= upper)
    if margin == 0:
        value = jnp.where(in_bounds, 1.0, 0.0)
    else:
        d = jnp.where(x < lower, lower - x, x - upper) / margin
        value = jnp.where(in_bounds, 1.0, _sigmoid(d, value_at_margin, sigmoid))
    return value.astype(jnp.float32) if value.dtype == jnp.float64 else value
