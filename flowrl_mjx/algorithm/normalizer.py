"""Running observation statistics for `Config.obs_norm` (a labelled extension beyond the paper).

brax SAC's `normalize_observations` idea: keep the running mean and variance of every observation
seen and feed the networks (obs - mean) / sqrt(var + eps), clipped to [-clip, clip]. Task
observations mix scales (joint angles ~1, velocities ~10-100); standardising them gives every
input a comparable range. The statistics are data, not parameters: no gradient moves them, they
change only when `update` merges newly observed rows.

Merging is exact (Chan et al.'s parallel algorithm on the mean and the sum of squared deviations
M2 = var * count), so merging batch after batch gives the moments of all rows seen at once, up to
float32 rounding. `count` is float32, the dtype of the merge weights it feeds; it counts exactly
to 2**24 rows and, past that, each merge rounds it by < 1e-7 relative, which moves the weights by
as little.
"""

import flax.struct
import jax
import jax.numpy as jnp

EPS = 1e-8  # added to var under the sqrt: a constant input maps to 0 instead of 0 / 0
CLIP = 5.0  # brax's default clip of normalised observations


@flax.struct.dataclass
class NormState:
    mean: jax.Array  # (obs_size,) float32: mean of the rows merged so far (0 before any)
    var: jax.Array  # (obs_size,) float32: their population variance (1 before any)
    count: jax.Array  # () float32: rows merged so far


def init(obs_size: int) -> NormState:
    """No rows yet: mean 0, var 1, so `normalize` only clips (identity on |obs| <= clip)."""
    return NormState(
        mean=jnp.zeros((obs_size,), jnp.float32),
        var=jnp.ones((obs_size,), jnp.float32),
        count=jnp.zeros((), jnp.float32),
    )


def update(state: NormState, obs, valid) -> NormState:
    """The moments of the rows merged so far plus the rows of obs (B, obs_size) where valid (B,)
    is > 0. Invalid rows are zeroed before any sum, so a NaN there cannot leak in; a batch with
    no valid row returns `state` unchanged (bitwise)."""
    w = (valid > 0).astype(jnp.float32)[:, None]
    x = jnp.where(w > 0, obs, 0.0)
    n_b = jnp.sum(w)
    mean_b = jnp.sum(x, axis=0) / jnp.maximum(n_b, 1.0)
    m2_b = jnp.sum(w * (x - mean_b) ** 2, axis=0)
    n_a, m2_a = state.count, state.var * state.count  # M2 = 0 while count = 0 (var is then 1)
    n = n_a + n_b
    delta = mean_b - state.mean
    mean = state.mean + delta * (n_b / jnp.maximum(n, 1.0))
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b / jnp.maximum(n, 1.0))
    var = jnp.where(n > 0, m2 / jnp.maximum(n, 1.0), 1.0)
    merged = NormState(mean=mean, var=var, count=n)
    return jax.tree.map(lambda new, old: jnp.where(n_b > 0, new, old), merged, state)


def normalize(state: NormState, obs, clip: float = CLIP):
    """clip((obs - mean) / sqrt(var + EPS), -clip, clip), broadcast over obs's leading dims."""
    return jnp.clip((obs - state.mean) / jnp.sqrt(state.var + EPS), -clip, clip)


def inputs(enabled: bool, state, obs):
    """What the networks see: normalised obs when `enabled` (Config.obs_norm, static), else obs
    untouched, so with the flag off no normalisation op enters any program."""
    if not enabled:
        return obs
    if state is None:
        raise ValueError("obs_norm is on but no observation statistics were given")
    return normalize(state, obs)
