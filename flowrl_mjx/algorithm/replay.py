"""On-device ring replay buffer: O(batch) insert at ring positions, uniform + recent sampling.

Entries [0, size) are filled; the next insert starts at `insert_pos`, wrapping to 0 at capacity,
so once full the oldest entries are overwritten first. Insert writes the batch at positions
(insert_pos + i) % capacity: one dynamic-slice write, or a scatter when the batch wraps; no roll or
copy of the buffer (it must be donated to, or carried through, the jitted program -- the scan of
the training epoch -- to be in place), so an insert costs the same at any capacity.

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
    cap, n = capacity(state), batch.reward.shape[0]
    if n > cap:
        raise ValueError(f"insert batch {n} exceeds replay capacity {cap}")
    # One contiguous dynamic-slice write unless the batch wraps past the end (then a scatter).
    # Under the seeds' vmap a scatter moves the seed axis behind the capacity axis (two transposes
    # of the whole buffer per insert), a dynamic slice does not; insert_pos is shared by the
    # seeds, so the cond stays a cond there and the scatter runs once per pass over the ring.
    pos = state.insert_pos
    data = jax.lax.cond(pos + n <= cap, _write_slice, _write_ring, state.data, batch, pos)
    return ReplayState(data=data, insert_pos=(pos + n) % cap, size=jnp.minimum(state.size + n, cap))


def insert_scatter(state: ReplayState, batch: Transition) -> ReplayState:
    """insert() as one scatter, for a buffer split over devices on its capacity axis: XLA's SPMD
    partitioner scatters locally on each device, where a dynamic-slice write at a dynamic offset
    all-gathers the whole buffer (seen in the compiled 2-device program)."""
    cap, n = capacity(state), batch.reward.shape[0]
    if n > cap:
        raise ValueError(f"insert batch {n} exceeds replay capacity {cap}")
    pos = state.insert_pos
    data = _write_ring(state.data, batch, pos)
    return ReplayState(data=data, insert_pos=(pos + n) % cap, size=jnp.minimum(state.size + n, cap))


def _write_slice(data: Transition, batch: Transition, pos) -> Transition:
    put = lambda buf, new: jax.lax.dynamic_update_slice_in_dim(buf, new.astype(buf.dtype), pos, 0)
    return jax.tree.map(put, data, batch)


def _write_ring(data: Transition, batch: Transition, pos) -> Transition:
    cap, n = data.reward.shape[0], batch.reward.shape[0]
    idx = (pos + jnp.arange(n, dtype=jnp.int32)) % cap

    def put(buf, new):
        return buf.at[idx].set(new.astype(buf.dtype), unique_indices=True, mode="promise_in_bounds")

    return jax.tree.map(put, data, batch)


def sample(
    state: ReplayState,
    key,
    batch_size: int,
    recent_fraction: float = 0.0,
    recent_window: int = 0,
    n_step: int = 1,
    stride: int = 1,
    gamma: float = 1.0,
) -> Transition:
    """batch_size transitions: round(batch_size * recent_fraction) of them uniform over the newest
    min(recent_window, size) entries, the rest uniform over all filled entries [0, size).

    With n_step > 1 each drawn transition is extended along its env's trajectory (`n_step_chain`;
    stride = transitions inserted per iteration). batch_size, recent_fraction, recent_window,
    n_step, stride and gamma are static. Draws are with replacement.
    """
    cap = capacity(state)
    n_recent = round(batch_size * recent_fraction) if recent_window > 0 else 0
    key_uniform, key_recent = jax.random.split(key)
    idx = jax.random.randint(key_uniform, (batch_size - n_recent,), 0, jnp.maximum(state.size, 1))
    if n_recent:
        window = jnp.maximum(jnp.minimum(state.size, recent_window), 1)
        back = jax.random.randint(key_recent, (n_recent,), 0, window)
        idx = jnp.concatenate([idx, (state.insert_pos - 1 - back) % cap])
    first = _take(state.data, idx)
    return first if n_step == 1 else n_step_chain(state, idx, first, n_step, stride, gamma)


def _take(tree, idx):
    return jax.tree.map(lambda buf: jnp.take(buf, idx, axis=0, mode="clip"), tree)


def n_step_chain(state: ReplayState, idx, first: Transition, n: int, stride: int, gamma: float):
    """The transitions at `idx` as n-step transitions (a labelled extension, Config.n_step).

    One env's consecutive steps lie `stride` ring positions apart (an iteration inserts one
    transition per env, in env order). The chain from idx takes up to n of them and stops early at
    a termination (discount 0), an invalid step, the newest entry, or an episode boundary: the
    next entry's obs is not this one's next_obs (a time-limit end, where the env auto-reset).
    For m taken steps: reward = sum_{j<m} gamma^j r_j, discount = gamma^(m-1) d_(m-1) (the losses
    multiply it by gamma once more) and next_obs = the m-th step's next_obs, so the TD target is
    r + gamma * discount * V(next_obs) with the losses unchanged. Off-policy steps are not
    corrected (as in FastTD3's and Rainbow's n-step returns).
    """
    cap = capacity(state)
    newer = (state.insert_pos - 1 - idx) % cap  # entries written after idx
    going = (first.valid > 0) & (first.discount > 0)
    reward, discount, next_obs = first.reward, first.discount, first.next_obs
    for j in range(1, n):
        step = _take(state.data, (idx + j * stride) % cap)
        going = (
            going
            & (j * stride <= newer)
            & (step.valid > 0)
            & jnp.all(step.obs == next_obs, axis=-1)
        )
        reward = reward + jnp.where(going, gamma**j * step.reward, 0.0)
        discount = jnp.where(going, gamma**j * step.discount, discount)
        next_obs = jnp.where(going[:, None], step.next_obs, next_obs)
        going = going & (step.discount > 0)
    return first.replace(reward=reward, discount=discount, next_obs=next_obs)
