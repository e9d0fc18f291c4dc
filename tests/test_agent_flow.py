"""Flow conventions, integrator orders and the flow policy's sampling (flowrl_mjx.algorithm.flow,
.policy)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowrl_mjx.algorithm import flow
from flowrl_mjx.algorithm.agent import init
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.algorithm.policy import make_flow_action, make_policy, sample_a0

SMALL = {"actor_hidden": (16, 16), "critic_hidden": (16,), "value_hidden": (16,)}


def test_interpolate_endpoints_and_velocity():
    a0, a1 = jnp.array([[1.0, -2.0], [0.5, 0.0]]), jnp.array([[3.0, 4.0], [-1.0, 2.0]])
    np.testing.assert_allclose(flow.interpolate(a0, a1, 0.0), a0)
    np.testing.assert_allclose(flow.interpolate(a0, a1, 1.0), a1)
    per_sample = flow.interpolate(a0, a1, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(per_sample, jnp.stack([a0[0], a1[1]]))
    # d a_t / d t along the path equals the regression target, at any t.
    _, da_dt = jax.jvp(lambda t: flow.interpolate(a0, a1, t), (0.3,), (1.0,))
    np.testing.assert_allclose(da_dt, flow.target_velocity(a0, a1), rtol=1e-6)


@pytest.mark.parametrize("name", ["euler", "midpoint"])
@pytest.mark.parametrize("n", [1, 3])
def test_constant_field_is_exact(name, n):
    a0, c = jnp.array([0.2, -0.7]), jnp.array([1.5, -3.0])
    out = flow.INTEGRATORS[name](lambda a, t: jnp.broadcast_to(c, a.shape), a0, n)
    np.testing.assert_allclose(out, a0 + c, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_midpoint_exact_for_time_only_field(n):
    # v = 2t + 1 (affine in t): the midpoint rule integrates it exactly, a(1) = a0 + 2.
    a0 = jnp.array([0.3, -1.0])
    out = flow.midpoint(lambda a, t: jnp.full_like(a, 2.0 * t + 1.0), a0, n)
    np.testing.assert_allclose(out, a0 + 2.0, rtol=1e-6)
    # Euler is not exact for it (left Riemann sum), which this test would notice if swapped.
    eul = flow.euler(lambda a, t: jnp.full_like(a, 2.0 * t + 1.0), a0, n)
    np.testing.assert_allclose(eul, a0 + 2.0 - 1.0 / n, rtol=1e-6)


def _linear_errors(integrator, ns):
    a0 = jnp.array([1.0])
    exact = np.exp(-1.0)
    return [abs(float(integrator(lambda a, t: -a, a0, n)[0]) - exact) for n in ns]


def test_midpoint_second_order_euler_first_order():
    ns = (8, 16, 32)
    mid, eul = _linear_errors(flow.midpoint, ns), _linear_errors(flow.euler, ns)
    for coarse, fine in itertools.pairwise(mid):
        assert 3.7 < coarse / fine < 4.3, mid
    for coarse, fine in itertools.pairwise(eul):
        assert 1.8 < coarse / fine < 2.2, eul


@pytest.fixture(scope="module")
def actor_setup():
    cfg = Config(**SMALL, flow_steps=2)
    nets = make_networks(cfg, obs_size=5, action_size=3)
    params = init(jax.random.key(0), cfg, 5, 3).params.actor
    return cfg, nets, params


def test_policy_batched_bounded_and_deterministic(actor_setup):
    cfg, nets, params = actor_setup
    act = make_policy(cfg, nets, make_flow_action(cfg, nets))
    act = jax.jit(act, static_argnames="deterministic")
    obs = jax.random.normal(jax.random.key(1), (4, 7, 5)) * 10.0
    a = act(params, obs, jax.random.key(2))
    assert a.shape == (4, 7, 3) and bool(jnp.all(jnp.abs(a) <= 1.0))
    assert not np.allclose(a, act(params, obs, jax.random.key(3)))  # stochastic in the noise
    det = act(params, obs, jax.random.key(2), deterministic=True)
    np.testing.assert_allclose(det, act(params, obs, jax.random.key(9), deterministic=True))
    zero_noise = make_flow_action(cfg, nets)(params, obs, jnp.zeros((4, 7, 3)))
    np.testing.assert_allclose(det, zero_noise, rtol=1e-6)
    # Unbatched observation.
    assert act(params, obs[0, 0], jax.random.key(2)).shape == (3,)


def test_policy_is_tanh_of_n_midpoint_steps(actor_setup):
    cfg, nets, params = actor_setup
    obs, a0 = jnp.ones((2, 5)), jnp.full((2, 3), 0.5)
    v = lambda a, t: nets.actor.apply(params, obs, a, t)
    a, h = a0, 0.5  # flow_steps = 2, written out by hand
    for t in (0.0, 0.5):
        a = a + h * v(a + 0.5 * h * v(a, t), t + 0.5 * h)
    np.testing.assert_allclose(make_flow_action(cfg, nets)(params, obs, a0), jnp.tanh(a), 1e-5)


def test_noise_clipped_in_official_mode_only():
    shape = (20000, 2)
    official = sample_a0(Config(mode="official", a0_clip=1.0), jax.random.key(0), shape)
    paper = sample_a0(Config(mode="paper"), jax.random.key(0), shape)
    assert float(jnp.max(jnp.abs(official))) == 1.0
    assert float(jnp.max(jnp.abs(paper))) > 3.0
    np.testing.assert_allclose(jnp.clip(paper, -1, 1), official)


def test_action_is_differentiable_through_the_ode(actor_setup):
    cfg, nets, params = actor_setup
    act = make_policy(cfg, nets, make_flow_action(cfg, nets))
    grads = jax.grad(lambda p: jnp.sum(act(p, jnp.ones((8, 5)), jax.random.key(0))))(params)
    leaves = jax.tree.leaves(grads)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    # Every layer receives gradient, including the first (so it flows through both evaluations).
    assert all(float(jnp.max(jnp.abs(g))) > 0 for g in leaves)
