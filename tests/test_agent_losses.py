"""FlowRL losses: formulas against NumPy, gradient stops, masking of invalid transitions."""

import functools
from dataclasses import fields

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_mjx.algorithm import flow, losses, policy
from flowrl_mjx.algorithm.agent import init
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.algorithm.policy import sample_a0
from flowrl_mjx.algorithm.replay import Transition

SMALL = {"actor_hidden": (16, 16), "critic_hidden": (16,), "value_hidden": (16,)}
OBS, ACT, B = 4, 3, 32


def np_actor_loss(q_pi, residual, d, valid, mode, lam):
    """Independent reference, written from the formulas of docs/design.md s3 / the paper."""
    q_pi, residual, d, valid = (np.asarray(x, np.float64) for x in (q_pi, residual, d, valid))
    v = valid > 0
    relu = np.maximum(d, 0.0)
    m = relu[v].mean()
    sq = (residual**2).sum(-1)
    if mode == "official":
        w = np.clip(lam * np.exp(relu - m), 1e-3, 1.0)
        fm = (residual[v] ** 2).mean()  # torch mse_loss: mean over samples and action dims
        return np.mean(-q_pi[v] + w[v] * fm)
    w = np.where(d > 0, np.minimum(np.exp(d - m), 20.0), 0.0)  # paper_max_weight = 20
    return np.mean(-q_pi[v] + lam * w[v] * sq[v])


def _random_parts(key, n=B):
    k1, k2, k3 = jax.random.split(key, 3)
    valid = (jnp.arange(n) % 5 != 0).astype(jnp.float32)
    return (
        jax.random.normal(k1, (n,)) * 3,
        jax.random.normal(k2, (n, ACT)),
        jax.random.normal(k3, (n,)) * 2,
        valid,
    )


@pytest.mark.parametrize("mode", ["official", "paper"])
def test_actor_objective_matches_numpy(mode):
    for seed in range(3):
        q_pi, residual, d, valid = _random_parts(jax.random.key(seed))
        loss, metrics = losses.actor_objective(q_pi, residual, d, valid, mode, 0.1)
        ref = np_actor_loss(q_pi, residual, d, valid, mode, 0.1)
        np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
        np.testing.assert_allclose(
            float(metrics["actor/q"]), np.mean(np.asarray(q_pi)[valid > 0]), rtol=1e-5
        )


def test_flow_weights_ranges():
    d = jnp.linspace(-5.0, 5.0, 101)
    valid = jnp.ones_like(d)
    w = losses.flow_weights(d, valid, "official", 0.1)
    assert float(w.min()) >= 1e-3 and float(w.max()) <= 1.0 and float(w.max()) == 1.0
    p = losses.flow_weights(d, valid, "paper", 0.1)
    assert bool(jnp.all(p[d <= 0] == 0)) and bool(jnp.all(p[d > 0] > 0))


def test_paper_weights_bounded_and_adam_keeps_moving():
    """A Q_buffer - Q gap of 52 above the batch mean: the per-sample flow-matching gradient stays
    within lam * paper_max_weight * 2|residual| / B, and Adam still moves the next step (an
    unbounded weight overflowed its second moment to inf and froze the actor)."""
    import optax

    lam, n = 0.1, 8
    q_pi = jnp.zeros(n)
    d = jnp.zeros(n).at[0].set(52.0 * n / (n - 1))  # sample 0 sits 52 above the batch mean
    valid = jnp.ones(n)
    residual = jnp.full((n, ACT), 0.5)
    loss_fn = lambda r, d: losses.actor_objective(q_pi, r, d, valid, "paper", lam)[0]
    g = jax.grad(loss_fn)(residual, d)
    assert bool(jnp.all(jnp.isfinite(g)))
    assert float(jnp.max(jnp.abs(g))) <= lam * 20.0 * 2 * 0.5 / n * (1 + 1e-6)
    tx = optax.adam(3e-4)
    opt = tx.init(residual)
    _, opt = tx.update(g, opt, residual)
    calm = jax.grad(loss_fn)(residual, jnp.ones(n))
    step, opt = tx.update(calm, opt, residual)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(opt))
    assert float(jnp.max(jnp.abs(step))) > 1e-6


@pytest.mark.parametrize("mode", ["official", "paper"])
def test_lam_zero_removes_the_w2_term_exactly(mode):
    q_pi, residual, d, valid = _random_parts(jax.random.key(7))
    loss, metrics = losses.actor_objective(q_pi, residual, d, valid, mode, 0.0)
    np.testing.assert_allclose(float(loss), -np.mean(np.asarray(q_pi)[valid > 0]), rtol=1e-6)
    assert float(metrics["actor/weight_mean"]) == 0.0
    g = jax.grad(lambda r: losses.actor_objective(q_pi, r, d, valid, mode, 0.0)[0])(residual)
    assert bool(jnp.all(g == 0.0))


def test_expectile_asymmetry():
    tau = 0.9
    np.testing.assert_allclose(losses.expectile_loss(jnp.array([2.0, -2.0]), tau), [3.6, 0.4], 1e-6)
    # The minimiser of the mean expectile loss over samples lies above their mean.
    x = jax.random.normal(jax.random.key(0), (500,))
    grid = jnp.linspace(-2, 2, 801)
    risk = jax.vmap(lambda v: jnp.mean(losses.expectile_loss(x - v, tau)))(grid)
    assert float(grid[jnp.argmin(risk)]) > float(jnp.mean(x)) + 0.5


@pytest.fixture(scope="module")
def setup():
    cfg = Config(**SMALL)
    nets = make_networks(cfg, OBS, ACT)
    state = init(jax.random.key(0), cfg, OBS, ACT)
    k = jax.random.split(jax.random.key(1), 4)
    batch = Transition(
        obs=jax.random.normal(k[0], (B, OBS)),
        action=jnp.tanh(jax.random.normal(k[1], (B, ACT))),
        reward=jax.random.normal(k[2], (B,)),
        discount=jnp.ones(B).at[:4].set(0.0),
        next_obs=jax.random.normal(k[3], (B, OBS)),
        valid=jnp.ones(B).at[-3:].set(0.0),
    )
    ls = losses.make_losses(cfg, nets, policy.make_flow_action(cfg, nets))
    jitted = losses.Losses(**{f.name: jax.jit(getattr(ls, f.name)) for f in fields(ls)})
    return cfg, nets, state.params, batch, jitted


def _all_zero(tree):
    return all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(tree))


@functools.partial(jax.jit, static_argnums=4)
def _all_grads(p, batch, key, q_buffer, ls):
    """Gradients of every loss w.r.t. every parameter argument, in one compiled program."""
    grad = lambda f, argnums: jax.grad(f, argnums, has_aux=True)
    return {
        "actor": grad(ls.actor, (0, 1, 3))(p.actor, p.critic, batch, q_buffer, key)[0],
        "critic": grad(ls.critic, (0, 1, 2))(p.critic, p.actor, p.critic_target, batch, key)[0],
        "qbuf": grad(ls.qbuf, (0, 1))(p.qbuf, p.value, batch)[0],
        "value": grad(ls.value, (0, 1))(p.value, p.qbuf_target, batch)[0],
    }


def test_gradient_stops(setup):
    """Only the optimised network gets gradient; targets, pi(s') in the critic target, V(s') in
    the Q_buffer target, the critic inside the actor loss and the weight input are constants."""
    _, _, p, batch, ls = setup
    g = _all_grads(p, batch, jax.random.key(2), jnp.zeros(B), ls)
    assert not _all_zero(g["actor"][0]) and _all_zero(g["actor"][1]) and _all_zero(g["actor"][2])
    assert not _all_zero(g["critic"][0]) and _all_zero(g["critic"][1:])
    assert not _all_zero(g["qbuf"][0]) and _all_zero(g["qbuf"][1])
    assert not _all_zero(g["value"][0]) and _all_zero(g["value"][1])


def test_invalid_transitions_do_not_count(setup):
    """valid = 0 rows filled with huge values change no loss; and they do not dilute means."""
    _, _, p, batch, ls = setup
    key = jax.random.key(3)
    invalid = np.asarray(batch.valid) == 0
    junk = jax.tree.map(
        lambda x: jnp.where(invalid.reshape(-1, *[1] * (x.ndim - 1)), 1e4, x),
        batch.replace(valid=None),
    )
    junk = junk.replace(valid=batch.valid)

    def three_losses(b):
        return np.array(
            [
                ls.critic(p.critic, p.actor, p.critic_target, b, key)[0],
                ls.value(p.value, p.qbuf_target, b)[0],
                ls.qbuf(p.qbuf, p.value, b)[0],
            ]
        )

    clean = three_losses(batch)
    assert np.all(np.isfinite(clean)) and np.all(clean > 0)
    np.testing.assert_allclose(three_losses(junk), clean, rtol=1e-5)
    q_pi, residual, d, _ = _random_parts(jax.random.key(4), 16)
    base = losses.actor_objective(q_pi, residual, d, jnp.ones(16), "official", 0.1)[0]
    padded = [jnp.concatenate([x, jnp.full((4, *x.shape[1:]), 1e4)]) for x in (q_pi, residual, d)]
    junk = losses.actor_objective(*padded, jnp.ones(20).at[16:].set(0.0), "official", 0.1)[0]
    np.testing.assert_allclose(float(junk), float(base), rtol=1e-5)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _network_parts(cfg, nets, p, batch, key):
    key_pi, key_a0, key_t = jax.random.split(key, 3)
    shape = batch.action.shape
    a_pi = jnp.tanh(
        flow.midpoint(
            lambda a, t: nets.actor.apply(p.actor, batch.obs, a, t),
            sample_a0(cfg, key_pi, shape),
            1,
        )
    )
    q_pi = jnp.min(nets.critic.apply(p.critic, batch.obs, a_pi), axis=0)
    a0, t = sample_a0(cfg, key_a0, shape), jax.random.uniform(key_t, shape[:-1])
    a_t = t[:, None] * batch.action + (1 - t[:, None]) * a0
    return q_pi, nets.actor.apply(p.actor, batch.obs, a_t, t) - (batch.action - a0)


def test_actor_loss_wiring_matches_numpy(setup):
    """The network-level actor loss: pi(s) from its own noise, a_t = t a + (1 - t) a0, target
    a - a0, min twin Q, then the NumPy formula (key use as documented in losses.actor)."""
    cfg, nets, p, batch, ls = setup
    key = jax.random.key(5)
    q_buffer = jax.random.normal(jax.random.key(6), (B,))
    loss, _ = ls.actor(p.actor, p.critic, batch, q_buffer, key)
    q_pi, residual = _network_parts(cfg, nets, p, batch, key)
    ref = np_actor_loss(q_pi, residual, np.asarray(q_buffer) - q_pi, batch.valid, cfg.mode, cfg.lam)
    np.testing.assert_allclose(float(loss), ref, rtol=1e-4)


def test_td_targets(setup):
    cfg, nets, p, batch, ls = setup
    _, metrics = ls.qbuf(p.qbuf, p.value, batch)
    v_next = nets.value.apply(p.value, batch.next_obs)
    y = batch.reward + cfg.gamma * batch.discount * v_next
    np.testing.assert_allclose(
        float(metrics[0]["qbuf/target"]), float(losses.masked_mean(y, batch.valid)), rtol=1e-5
    )
    np.testing.assert_allclose(losses.td_target(jnp.array(2.0), 0.0, 0.99, 1e3), 2.0)
