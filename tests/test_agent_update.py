"""The jitted update: config checks, a probe problem, delays/targets, NaN-freedom, one trace."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_mjx.algorithm import learner, normalizer, replay
from flowrl_mjx.algorithm.agent import init
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.algorithm.update import averaged

OBS, ACT = 4, 2
SMALL = {
    "actor_hidden": (16, 16),
    "critic_hidden": (16,),
    "value_hidden": (16,),
    "batch_size": 64,
    "replay_size": 256,
    "recent_window": 32,
}


def test_config_defaults_valid_and_bad_values_rejected():
    assert Config().validate() == Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().lr = 1.0
    bad = [
        {"batch_size": 0},
        {"batch_size": 512, "replay_size": 256},
        {"mode": "fast"},
        {"integrator": "rk4"},
        {"critic_hidden": ()},
        {"expectile": 1.0},
        {"gamma": 1.5},
        {"recent_fraction": 0.5, "recent_window": 0},
        {"flow_steps": 0},
        {"lr": 0.0},
    ]
    for overrides in bad:
        with pytest.raises(ValueError, match="invalid config") as err:
            Config(**overrides).validate()
        assert "\n" not in str(err.value) and next(iter(overrides)) in str(err.value)


def test_metric_averaging_weights_actor_by_the_updates_that_ran():
    metrics = {"critic/loss": jnp.array([1.0, 3.0, 5.0]), "actor/q": jnp.array([2.0, 0.0, 4.0])}
    out = averaged(metrics, jnp.array([1.0, 0.0, 1.0]))
    assert float(out["critic/loss"]) == 3.0 and float(out["actor/q"]) == 3.0
    np.testing.assert_allclose(float(out["actor/updated"]), 2 / 3)
    assert float(averaged(metrics, jnp.zeros(3))["actor/q"]) == 0.0


def _probe_replay(key, n=256, reward=1.0):
    """Constant reward, discount 0: every Q (and V) should regress to `reward`."""
    k1, k2, k3 = jax.random.split(key, 3)
    batch = replay.Transition(
        obs=jax.random.normal(k1, (n, OBS)),
        action=jax.random.uniform(k2, (n, ACT), minval=-1),
        reward=jnp.full(n, reward),
        discount=jnp.zeros(n),
        next_obs=jax.random.normal(k3, (n, OBS)),
        valid=jnp.ones(n),
    )
    return replay.insert(replay.init(n, OBS, ACT), batch)


@pytest.fixture(scope="module")
def official():
    cfg = Config(**SMALL, lr=3e-3)
    traces = []

    def counted(*args):
        traces.append(1)
        return learner.build(cfg, OBS, ACT).update(*args)

    state = init(jax.random.key(0), cfg, OBS, ACT)
    return cfg, jax.jit(counted), state, _probe_replay(jax.random.key(1)), traces


def _errors(cfg, params, data, reward=1.0):
    """Mean |Q - r| of critic and Q_buffer twins and |V - r| on the replay contents."""
    nets = make_networks(cfg, OBS, ACT)
    err = lambda x: float(jnp.mean(jnp.abs(x - reward)))
    return {
        "critic": err(nets.critic.apply(params.critic, data.obs, data.action)),
        "qbuf": err(nets.critic.apply(params.qbuf, data.obs, data.action)),
        "value": err(nets.value.apply(params.value, data.obs)),
    }


def test_probe_update_moves_q_toward_reward(official):
    cfg, update, state, replay_state, _ = official
    before = _errors(cfg, state.params, replay_state.data)
    one, _ = update(state, replay_state, jax.random.key(2))
    after_one = _errors(cfg, one.params, replay_state.data)
    assert after_one["critic"] < before["critic"] and after_one["qbuf"] < before["qbuf"]
    for i in range(100):
        one, _ = update(one, replay_state, jax.random.key(3 + i))
    after = _errors(cfg, one.params, replay_state.data)
    assert after["critic"] < 0.1 * before["critic"] and after["qbuf"] < 0.1 * before["qbuf"]
    # V chases min Q_buffer_target, which lags Q_buffer (it overshoots first: expectile 0.9).
    assert after["value"] < 0.3 * before["value"], (before, after)


def _close(a, b):
    return all(
        np.allclose(x, y, rtol=1e-6, atol=1e-7)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_actor_and_targets_follow_the_delays(official):
    cfg, update, s0, replay_state, _ = official
    rate = cfg.target_rate
    s1, m1 = update(s0, replay_state, jax.random.key(4))  # counter 0: actor + targets move
    assert int(s1.step) == 1 and float(m1["actor/updated"]) == 1.0
    assert not _close(s1.params.actor, s0.params.actor)
    for target, online in (("critic_target", "critic"), ("qbuf_target", "qbuf")):
        mixed = jax.tree.map(
            lambda t, o: rate * t + (1 - rate) * o,
            getattr(s0.params, target),
            getattr(s1.params, online),
        )
        assert _close(getattr(s1.params, target), mixed), target
    s2, m2 = update(s1, replay_state, jax.random.key(5))  # counter 1: neither moves
    assert int(s2.step) == 2 and float(m2["actor/updated"]) == 0.0
    assert _close(s2.params.actor, s1.params.actor) and not _close(
        s2.params.critic, s1.params.critic
    )
    assert _close(s2.params.critic_target, s1.params.critic_target)
    assert _close(s2.params.qbuf_target, s1.params.qbuf_target)


def test_update_traced_once_across_calls(official):
    _, update, state, replay_state, traces = official
    for i in range(3):
        state, _ = update(state, replay_state, jax.random.key(10 + i))
    assert len(traces) == 1


def _wild_replay(key, n=256):
    k = jax.random.split(key, 6)
    batch = replay.Transition(
        obs=jax.random.normal(k[0], (n, OBS)) * 30,
        action=jax.random.uniform(k[1], (n, ACT), minval=-1),
        reward=jax.random.normal(k[2], (n,)) * 10,
        discount=jax.random.bernoulli(k[3], 0.9, (n,)) * 1.0,
        next_obs=jax.random.normal(k[4], (n, OBS)) * 30,
        valid=jax.random.bernoulli(k[5], 0.8, (n,)) * 1.0,
    )
    return replay.insert(replay.init(n, OBS, ACT), batch)


def test_paper_mode_k_updates_no_nan():
    """K = 3 updates in one scan (actor at counters 0 and 2) on wild random data, paper mode."""
    cfg = Config(**SMALL, mode="paper", updates_per_iter=3)
    update = jax.jit(learner.build(cfg, OBS, ACT).update)
    state = init(jax.random.key(0), cfg, OBS, ACT)
    for i in range(2):
        state, metrics = update(state, _wild_replay(jax.random.key(i)), jax.random.key(7 + i))
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert int(state.step) == 6 and np.isclose(float(metrics["actor/updated"]), 1 / 3)
    assert float(metrics["train/updates"]) == 6  # the running count, not a per-call mean
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


def test_official_mode_no_nan(official):
    _, update, state, _, _ = official
    for i in range(3):
        state, metrics = update(state, _wild_replay(jax.random.key(20 + i)), jax.random.key(i))
        assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


def test_obs_norm_normalises_each_sampled_batch_and_never_trains_the_statistics():
    """Under obs_norm, K updates on the raw replay equal K updates without it on a replay whose
    obs and next_obs were normalised beforehand with the same statistics (which stay as given)."""
    cfg = Config(**SMALL, updates_per_iter=2, obs_norm=True)
    plain = dataclasses.replace(cfg, obs_norm=False)
    raw = _wild_replay(jax.random.key(30))  # obs on a scale of 30: normalising matters
    stats = normalizer.update(normalizer.init(OBS), raw.data.obs, raw.data.valid)
    norm = lambda x: normalizer.normalize(stats, x)
    pre = raw.replace(
        data=raw.data.replace(obs=norm(raw.data.obs), next_obs=norm(raw.data.next_obs))
    )
    state = init(jax.random.key(0), cfg, OBS, ACT).replace(obs_norm=stats)
    on, m_on = jax.jit(learner.build(cfg, OBS, ACT).update)(state, raw, jax.random.key(31))
    update_plain = jax.jit(learner.build(plain, OBS, ACT).update)
    want, m_want = update_plain(state, pre, jax.random.key(31))
    assert _close(on.params, want.params) and _close(m_on, m_want)
    for a, b in zip(jax.tree.leaves(on.obs_norm), jax.tree.leaves(stats), strict=True):
        np.testing.assert_array_equal(a, b)
    unnormalised, _ = update_plain(state, raw, jax.random.key(31))
    assert not _close(on.params.critic, unnormalised.params.critic)


def _chain_replay(key, num_envs=4, iters=64):
    """num_envs envs in lockstep, never ending: each entry's next_obs is the obs `num_envs` slots
    later, so every n-step chain runs to its full length (except the newest entries)."""
    obs = jax.random.normal(key, (iters + 1, num_envs, OBS))
    batch = replay.Transition(
        obs=obs[:-1].reshape(-1, OBS),
        action=jnp.zeros((iters * num_envs, ACT)),
        reward=jnp.ones(iters * num_envs),
        discount=jnp.ones(iters * num_envs),
        next_obs=obs[1:].reshape(-1, OBS),
        valid=jnp.ones(iters * num_envs),
    )
    return replay.insert(replay.init(iters * num_envs, OBS, ACT), batch)


def test_n_step_changes_the_update_only_where_chains_continue():
    """n_step=3 gives the same update as n_step=1 on a replay of terminal transitions (no chain
    can extend) and a different one where each env's steps continue (the stride is wired)."""
    base = Config(**SMALL)
    state = init(jax.random.key(0), base, OBS, ACT)

    programs = {}  # one compile per config: the two replays share shapes

    def run(cfg, buf):
        if cfg not in programs:
            programs[cfg] = jax.jit(learner.build(cfg, OBS, ACT, stride=4).update)
        out, _ = programs[cfg](state, buf, jax.random.key(2))
        return out.params.critic

    three = dataclasses.replace(base, n_step=3)
    terminal, chains = _probe_replay(jax.random.key(1)), _chain_replay(jax.random.key(1))
    jax.tree.map(np.testing.assert_array_equal, run(base, terminal), run(three, terminal))
    diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), run(base, chains),
                        run(three, chains))  # fmt: skip
    assert max(jax.tree.leaves(diff)) > 1e-4, diff
