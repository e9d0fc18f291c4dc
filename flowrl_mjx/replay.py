"""On-device ring replay buffer: O(batch) insert at ring positions, uniform + recent sampling.

Entries [0, size) are filled; the next insert starts at `insert_pos`, wrapping to 0 at capacity,
so once full the oldest entries are overwritten first. Insert writes the batch at positions
(insert_pos + i) % capacity with two window writes of B slots (dynamic slices): no scatter, roll
or copy of the buffer (it must be donated to, or carried through, the jitted program to be in
place), so the cost of an insert does not depend on the capacity.

Invalid transitions: every slot starts with valid = 0, and a producer may insert valid = 0 (for
example a NaN-guarded env step). They may be sampled; the losses mask them out (losses.masked_mean),
so they contribute neither to any loss nor to batch statistics. Sampling an empty buffer returns
such valid = 0 slots.
"""

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Transition:
    """One transition per leading index. discount = 0 at termination (not at time-limit ends)."""

    obs: jax.Array  # (..., obs_size)
    action: jax.Array  # (..., action_size), in [-1, 1]
    reward: jax.Array  # (...)
    discount: jax.Array  # (...), multiplies gamma in the TD target
    next_obs: jax.Array  # (..., obs_size): the true next observation, also at episode ends
    valid: jax.Array  # (...), 1.0 to learn from this transition, 0.0 to ignore it


@flax.struct.dataclass
class ReplayState:
    data: Transition  # every field has a leading capacity axis
    insert_pos: jax.Array  # int32 scalar: where the next transition goes
    size: jax.Array  # int32 scalar: number of filled slots, <= capacity


def capacity(state: ReplayState) -> int:
    return state.data.reward.shape[0]


def init(capacity: int, obs_size: int, action_size: int) -> ReplayState:
    """An empty buffer of zeros (valid = 0 everywhere), float32."""
    z = lambda *shape: jnp.zeros((capacity, *shape), jnp.float32)
    data = Transition(
        obs=z(obs_size),
        action=z(action_size),
        reward=z(),
        discount=z(),
        next_obs=z(obs_size),
        valid=z(),
    )
    return ReplayState(data=data, insert_pos=jnp.int32(0), size=jnp.int32(0))


def insert(state: ReplayState, batch: Transition) -> ReplayState:
    """Writes batch (leading axis B <= capacity, static) at the ring positions after insert_pos."""
    cap = capacity(state)
    n = batch.reward.shape[0]
    if n > cap:
        raise ValueError(f"insert batch {n} exceeds replay capacity {cap}")
    # Two windows of n slots cover every written slot, wrapped or not: one ending at insert_pos + n
    # or at the ring's end, and [0, n). Each is a dynamic slice read and write (O(n), in place);
    # not a scatter, which under the seeds' vmap transposes the whole buffer twice per insert.
    pos = state.insert_pos
    data = _write_window(state.data, batch, pos, jnp.minimum(pos, cap - n))
    data = _write_window(data, batch, pos, jnp.zeros_like(pos))
    return ReplayState(data=data, insert_pos=(pos + n) % cap, size=jnp.minimum(state.size + n, cap))


def insert_scatter(state: ReplayState, batch: Transition) -> ReplayState:
    """insert() as one scatter: for a buffer split over devices on its capacity axis, which XLA's
    SPMD partitioner scatters locally on each device, where a dynamic-slice window write would
    all-gather the whole buffer (measured in the compiled 2-device program)."""
    cap, n = capacity(state), batch.reward.shape[0]
    if n > cap:
        raise ValueError(f"insert batch {n} exceeds replay capacity {cap}")
    idx = (state.insert_pos + jnp.arange(n, dtype=jnp.int32)) % cap

    def put(buf, new):
        return buf.at[idx].set(new.astype(buf.dtype), unique_indices=True, mode="promise_in_bounds")

    return ReplayState(
        data=jax.tree.map(put, state.data, batch),
        insert_pos=(state.insert_pos + n) % cap,
        size=jnp.minimum(state.size + n, cap),
    )


def _write_window(data: Transition, batch: Transition, pos, start) -> Transition:
    """Slots [start, start + n) after the insert: slot p takes batch[(p - pos) % cap] if that
    offset is < n (p is one of the batch's ring positions), else keeps its content."""
    cap, n = data.reward.shape[0], batch.reward.shape[0]
    offset = (start + jnp.arange(n, dtype=jnp.int32) - pos) % cap
    take = offset < n
    rows = jnp.minimum(offset, n - 1)

    def put(buf, new):
        old = jax.lax.dynamic_slice_in_dim(buf, start, n, 0)
        mask = take.reshape((n,) + (1,) * (buf.ndim - 1))
        window = jnp.where(mask, jnp.take(new, rows, axis=0).astype(buf.dtype), old)
        return jax.lax.dynamic_update_slice_in_dim(buf, window, start, 0)

    return jax.tree.map(put, data, batch)


def sample(
    state: ReplayState, key, batch_size: int, recent_fraction: float = 0.0, recent_window: int = 0
) -> Transition:
    """batch_size transitions: round(batch_size * recent_fraction) of them uniform over the newest
    min(recent_window, size) entries, the rest uniform over all filled entries [0, size).

    batch_size, recent_fraction and recent_window are static. Draws are with replacement.
    """
    cap = capacity(state)
    n_recent = round(batch_size * recent_fraction) if recent_window > 0 else 0
    key_uniform, key_recent = jax.random.split(key)
    idx = jax.random.randint(key_uniform, (batch_size - n_recent,), 0, jnp.maximum(state.size, 1))
    if n_recent:
        window = jnp.maximum(jnp.minimum(state.size, recent_window), 1)
        back = jax.random.randint(key_recent, (n_recent,), 0, window)
        idx = jnp.concatenate([idx, (state.insert_pos - 1 - back) % cap])
    return jax.tree.map(lambda buf: jnp.take(buf, idx, axis=0, mode="clip"), state.data)
