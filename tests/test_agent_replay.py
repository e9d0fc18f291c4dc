"""Ring replay buffer: wrap-around bookkeeping, O(batch) insert, where samples come from."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_mjx.algorithm import replay

OBS, ACT = 3, 2


def _batch(ids, valid=1.0):
    """Transitions whose every field encodes their id, so a slot's content identifies it."""
    ids = jnp.asarray(ids, jnp.float32)
    return replay.Transition(
        obs=jnp.repeat(ids[:, None], OBS, 1),
        action=jnp.repeat(ids[:, None], ACT, 1),
        reward=ids,
        discount=ids,
        next_obs=jnp.repeat(ids[:, None] + 0.5, OBS, 1),
        valid=jnp.full(ids.shape, valid),
    )


def _filled_ids(state):
    ids = np.asarray(state.data.reward[: int(state.size)])
    for field in (state.data.obs, state.data.action):
        np.testing.assert_array_equal(np.asarray(field[: int(state.size)]).T[0], ids)
    return ids


def test_wraparound_keeps_newest_capacity_ids():
    cap, n = 10, 3  # 3 does not divide 10: inserts straddle the end of the ring
    insert = jax.jit(replay.insert)
    state, next_id = replay.init(cap, OBS, ACT), 0
    for _ in range(9):
        state = insert(state, _batch(np.arange(next_id, next_id + n)))
        next_id += n
        ids = _filled_ids(state)
        expected = np.arange(max(0, next_id - cap), next_id)  # nothing lost or duplicated
        assert sorted(ids.tolist()) == expected.tolist()
        assert int(state.size) == min(next_id, cap) and int(state.insert_pos) == next_id % cap
        # Ring order: slot i holds the latest id congruent to i mod cap.
        np.testing.assert_array_equal(ids % cap, np.arange(len(ids)))


def test_insert_rejects_batch_larger_than_capacity():
    with pytest.raises(ValueError, match="exceeds replay capacity"):
        replay.insert(replay.init(4, OBS, ACT), _batch(np.arange(5)))


def _capacity_ops(hlo: str, shape: str) -> list:
    """(op, line) of every compiled instruction whose result has the given dims."""
    ops = []
    for line in hlo.splitlines():
        shape_op = re.match(r"\s*(ROOT )?%\S+ = (.*?) (\S+?)\(", line)
        if shape_op and re.search(rf"\[{shape}[,\]]", shape_op.group(2)):
            ops.append((shape_op.group(3), line))
    return ops


def _big_primitives(jaxpr, cap) -> list:
    return [e.primitive.name for e in jaxpr.eqns
            if any(cap in getattr(v.aval, "shape", ()) for v in e.outvars)]  # fmt: skip


def test_insert_touches_only_batch_rows():
    """O(batch): the capacity-sized results are one cond whose branches are a dynamic-slice write
    (contiguous) and a scatter (wrapping); the compiled program aliases the donated buffers to
    the outputs and never transposes, pads, concatenates or reverses the ring."""
    cap = 7919  # prime, so no other dimension coincides with it
    state, batch = replay.init(cap, OBS, ACT), _batch(np.arange(37))
    jaxpr = jax.make_jaxpr(replay.insert)(state, batch).jaxpr
    assert _big_primitives(jaxpr, cap) == ["cond"]
    cond = next(e for e in jaxpr.eqns if e.primitive.name == "cond")
    branches = [set(_big_primitives(b.jaxpr, cap)) for b in cond.params["branches"]]
    assert sorted(map(sorted, branches)) == [["dynamic_update_slice"], ["scatter"]], branches
    hlo = jax.jit(replay.insert, donate_argnums=0).lower(state, batch).compile().as_text()
    moves = ("transpose", "pad", "concatenate", "reverse")
    assert not [line for op, line in _capacity_ops(hlo, cap) if op in moves]
    assert "input_output_alias" in hlo


def test_insert_under_seed_vmap_stays_in_place():
    """Several seeds (vmap over the buffers, shared insert position, as flowrl_mjx.algorithm.seeds
    does): the insert stays a cond, and its contiguous branch compiles with the seed axis kept in
    front; the wrapping branch (a scatter) moves it behind the capacity axis, i.e. transposes the
    buffer."""
    cap, seeds = 7919, 3
    one = replay.init(cap, OBS, ACT)
    data = jax.tree.map(lambda x: jnp.stack([x] * seeds), one.data)
    batch = jax.tree.map(lambda x: jnp.stack([x + s for s in range(seeds)]), _batch(np.arange(37)))
    pos = jnp.int32(0)

    def seed_axis_moved(write) -> bool:
        fn = jax.jit(jax.vmap(write, (0, 0, None)), donate_argnums=0)
        return bool(_capacity_ops(fn.lower(data, batch, pos).compile().as_text(), cap))

    assert not seed_axis_moved(replay._write_slice) and seed_axis_moved(replay._write_ring)
    axes = replay.ReplayState(data=0, insert_pos=None, size=None)
    insert = jax.vmap(replay.insert, (axes, 0), axes)
    state = one.replace(data=data)
    prims = [e.primitive.name for e in jax.make_jaxpr(insert)(state, batch).jaxpr.eqns]
    assert prims.count("cond") == 1, prims
    out = jax.jit(insert, donate_argnums=0)(state, batch)
    expected = np.arange(37) + np.arange(seeds)[:, None]
    np.testing.assert_array_equal(np.asarray(out.data.reward[:, :37]), expected)


def test_sample_only_from_filled_part():
    state = replay.insert(replay.init(1000, OBS, ACT), _batch(np.arange(37)))
    batch = replay.sample(state, jax.random.key(0), 4096)
    ids = np.asarray(batch.reward)
    assert ids.min() >= 0 and ids.max() < 37 and np.all(np.asarray(batch.valid) == 1.0)
    assert len(np.unique(ids)) == 37  # uniform over the 37 filled slots: all drawn
    np.testing.assert_array_equal(np.asarray(batch.next_obs)[:, 0], ids + 0.5)  # rows intact


@pytest.mark.parametrize("inserted, cap", [(500, 1000), (250, 100)])
def test_recent_draws_come_from_newest_window(inserted, cap):
    state = replay.init(cap, OBS, ACT)
    for start in range(0, inserted, 25):
        state = replay.insert(state, _batch(np.arange(start, start + 25)))
    batch = replay.sample(state, jax.random.key(1), 400, recent_fraction=0.25, recent_window=30)
    ids = np.asarray(batch.reward)
    recent, rest = ids[-100:], ids[:-100]  # the recent draws are the batch's tail
    assert recent.min() >= inserted - 30 and recent.max() < inserted
    assert len(np.unique(recent)) > 20  # spread over the window, not one slot
    assert rest.min() >= inserted - min(inserted, cap) and rest.max() < inserted
    assert rest.min() < inserted - 30  # the uniform part reaches beyond the window


def test_empty_buffer_samples_are_invalid():
    batch = replay.sample(replay.init(50, OBS, ACT), jax.random.key(0), 64, 0.5, 10)
    assert batch.obs.shape == (64, OBS) and np.all(np.asarray(batch.valid) == 0.0)


def _trajectories(num_envs, iters, seed):
    """Inserted batches of num_envs envs stepping in lockstep, with terminations, time-limit ends
    (auto-reset: the next obs is a fresh one), and one invalid step, plus each insert's episode-end
    flags (what the n-step chain must infer from obs continuity)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(num_envs, OBS)).astype(np.float32)
    batches, ends = [], []
    for t in range(iters):
        nxt = rng.normal(size=(num_envs, OBS)).astype(np.float32)
        u = rng.uniform(size=num_envs)
        terminated, truncated = u < 0.15, (u >= 0.15) & (u < 0.3)
        valid = np.ones(num_envs, np.float32)
        if t == iters // 2:
            valid[0] = 0.0
        batches.append(replay.Transition(
            obs=jnp.asarray(obs), action=jnp.zeros((num_envs, ACT)),
            reward=jnp.asarray(rng.normal(size=num_envs).astype(np.float32)),
            discount=jnp.asarray(1.0 - terminated.astype(np.float32)),
            next_obs=jnp.asarray(nxt), valid=jnp.asarray(valid),
        ))  # fmt: skip
        ended = terminated | truncated | (valid == 0)
        ends.append(ended)
        obs = np.where(ended[:, None], rng.normal(size=(num_envs, OBS)), nxt).astype(np.float32)
    return batches, ends


def _brute_n_step(batches, ends, g, num_envs, n, gamma, inserted):
    """(reward, discount, next_obs) of the n-step transition from global insert g, by walking
    the env's own steps with the true episode-end flags."""
    t, e = divmod(g, num_envs)
    b = batches[t]
    reward, discount, next_obs = float(b.reward[e]), float(b.discount[e]), np.asarray(b.next_obs[e])
    if not (b.valid[e] > 0 and not ends[t][e]):
        return reward, discount, next_obs
    for j in range(1, n):
        if g + j * num_envs >= inserted:
            break
        s = batches[t + j]
        if s.valid[e] == 0:
            break
        reward += gamma**j * float(s.reward[e])
        discount, next_obs = gamma**j * float(s.discount[e]), np.asarray(s.next_obs[e])
        if ends[t + j][e]:
            break
    return reward, discount, next_obs


@pytest.mark.parametrize("num_envs, cap, iters", [(3, 20, 13), (4, 64, 9)])
def test_n_step_chain_matches_each_envs_trajectory(num_envs, cap, iters):
    """Every filled slot's n-step transition equals the brute-force walk along its env's steps:
    stops at terminations, time-limit ends (found by obs continuity), invalid steps and the newest
    entry, across the ring's wrap (3 envs into capacity 20)."""
    n, gamma = 3, 0.9
    batches, ends = _trajectories(num_envs, iters, seed=num_envs)
    state = replay.init(cap, OBS, ACT)
    for b in batches:
        state = replay.insert(state, b)
    inserted = num_envs * iters
    idx = jnp.arange(int(state.size))
    first = jax.tree.map(lambda buf: buf[idx], state.data)
    out = replay.n_step_chain(state, idx, first, n, num_envs, gamma)
    for i in range(int(state.size)):
        g = max(inserted - cap, 0) + (i - int(state.insert_pos)) % min(cap, inserted)
        if inserted <= cap:
            g = i
        reward, discount, next_obs = _brute_n_step(batches, ends, g, num_envs, n, gamma, inserted)
        np.testing.assert_allclose(float(out.reward[i]), reward, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(float(out.discount[i]), discount, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(out.next_obs[i]), next_obs)
    assert np.any(np.asarray(out.discount) == gamma**2)  # some chains do take all 3 steps


def test_n_step_one_is_the_plain_sample():
    state = replay.insert(replay.init(100, OBS, ACT), _batch(np.arange(37)))
    plain = replay.sample(state, jax.random.key(3), 64)
    same = replay.sample(state, jax.random.key(3), 64, n_step=1, stride=5, gamma=0.5)
    jax.tree.map(np.testing.assert_array_equal, plain, same)
