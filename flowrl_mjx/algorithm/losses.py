"""FlowRL losses (Lv et al. 2025, "Flow-Based Policy for Online RL", arXiv 2506.12811).

Sections named below are the paper's parts (policy evaluation of Q^pi; the behaviour-optimal
Q^{pi_beta*} and V by expectile regression; the W2-constrained policy improvement); equation
numbers are not quoted because they differ between the arXiv versions.

Each loss returns (loss, metrics) with scalar metrics named "<part>/<name>"; batch means are over
valid transitions only (`masked_mean`), so valid = 0 entries affect neither losses nor metrics.
Which inputs are stopped follows the official code: TD targets, the next action pi(s'), the
critic inside the actor loss and the weight input d are all constants to the optimised network.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from flowrl_mjx.algorithm import flow
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.networks import Networks
from flowrl_mjx.algorithm.policy import sample_a0

sg = jax.lax.stop_gradient
OFFICIAL_W_MIN, OFFICIAL_W_MAX = 1e-3, 1.0  # the official code's clip of the actor weight


def masked_mean(x, valid):
    """sum(x * valid) / max(sum(valid), 1); x and valid of shape (B,)."""
    return jnp.sum(x * valid) / jnp.maximum(jnp.sum(valid), 1.0)


def td_target(reward, discount, gamma, next_value):
    """y = r + gamma * discount * next_value (the paper's TD targets of Q^pi and Q^{pi_beta*})."""
    return reward + gamma * discount * next_value


def expectile_loss(diff, tau):
    """|tau - 1[diff < 0]| * diff^2, diff = target - prediction (IQL-style expectile, the paper's
    V estimate): under-estimates (diff > 0) cost tau, over-estimates 1 - tau, so V tends to the
    tau-expectile of its targets."""
    return jnp.where(diff < 0, 1.0 - tau, tau) * diff**2


def flow_weights(d, valid, mode: str, lam: float, paper_max_weight=Config.paper_max_weight):
    """Per-sample weight of the flow-matching term, from d = Q_buffer(s, a) - Q(s, pi(s)).

    Both modes normalise with m = masked batch mean of relu(d) over valid samples (the official
    code's normaliser; for d > 0, relu(d) = d, so the paper's exp(d - mean) reads exp(d - m)).
    official: w = clip(lam * exp(relu(d) - m), 1e-3, 1)   (lam folded in, as released).
    paper:    w = min(f(d), paper_max_weight), f(d) = 1[d > 0] * exp(d - m) (the paper's f; lam
              applied separately). Unbounded, a gap d - m of ~50 gives weights ~5e21, whose
              squared gradients overflow Adam's float32 second moment to inf: the actor never
              moves again. With the bound, a sample's flow-matching gradient is at most
              lam * paper_max_weight times its unweighted one.
    lam = 0 (the constraint-off ablation, the paper's Fig. 4a): w = 0 in both modes, exactly.
    """
    if lam == 0:
        return jnp.zeros_like(d)
    pos = jax.nn.relu(d)
    m = masked_mean(pos, valid)
    if mode == "official":
        return jnp.clip(lam * jnp.exp(pos - m), OFFICIAL_W_MIN, OFFICIAL_W_MAX)
    log_max = jnp.log(paper_max_weight)
    return jnp.where(d > 0, jnp.exp(jnp.minimum(d - m, log_max)), 0.0)


def actor_objective(
    q_pi, residual, d, valid, mode: str, lam: float, paper_max_weight=Config.paper_max_weight
):
    """Actor loss from its parts (the paper's W2-regularised policy objective).

    q_pi: (B,) min of twin Q(s, pi(s)); residual: (B, act) v(s, a_t, t) - (a - a0); d: (B,), no
    gradient. ||residual||^2 is the flow-matching bound on W2^2(pi, pi_beta*).
    official: mean_B[-q_pi + w * FM], FM = the batch mean of residual^2 over samples and action
              dims (torch mse_loss): the weight multiplies one scalar shared by the batch.
    paper:    mean_B[-q_pi + lam * f(d) * ||residual||^2], per-sample, summed over action dims.
    """
    d = sg(d)
    w = flow_weights(d, valid, mode, lam, paper_max_weight)
    sq = jnp.sum(residual**2, axis=-1)
    if mode == "official":
        fm = masked_mean(sq / residual.shape[-1], valid)
        loss = masked_mean(-q_pi + w * fm, valid)
    else:
        loss = masked_mean(-q_pi + lam * w * sq, valid)
    metrics = {
        "actor/loss": loss,
        "actor/q": masked_mean(q_pi, valid),
        "actor/w2": masked_mean(sq, valid),
        "actor/weight_mean": masked_mean(w, valid),
        "actor/adv_pos_frac": masked_mean((d > 0).astype(jnp.float32), valid),
    }
    return loss, metrics


def _twin_regression(prefix, q, y, valid):
    """Sum over the twins of the masked MSE to target y (the official mse(q1) + mse(q2))."""
    err = q - y
    loss = masked_mean(jnp.sum(err**2, axis=0), valid)
    return loss, {
        f"{prefix}/loss": loss,
        f"{prefix}/td_error": masked_mean(jnp.mean(jnp.abs(err), axis=0), valid),
        f"{prefix}/q": masked_mean(jnp.mean(q, axis=0), valid),
        f"{prefix}/target": masked_mean(y, valid),
    }


@dataclasses.dataclass(frozen=True)
class Losses:
    """Loss functions, first argument = the parameters they are differentiated by."""

    critic: Callable  # (critic, actor, critic_target, batch, key) -> (loss, metrics)
    qbuf: Callable  # (qbuf, value, batch) -> (loss, (metrics, q_buffer (B,)))
    value: Callable  # (value, qbuf_target, batch) -> (loss, metrics)
    actor: Callable  # (actor, critic, batch, q_buffer, key) -> (loss, metrics)


def make_losses(cfg: Config, networks: Networks, flow_action: Callable) -> Losses:
    """The four losses; flow_action: the policy's (policy.make_flow_action, built once by
    learner.build)."""
    q_apply, v_apply = networks.critic.apply, networks.value.apply

    def critic(critic_params, actor_params, critic_target_params, batch, key):
        """Current-policy critic: twin Q to r + gamma * discount * min Q_target(s', pi(s'))."""
        a0 = sample_a0(cfg, key, batch.action.shape)
        next_action = sg(flow_action(actor_params, batch.next_obs, a0))
        next_q = jnp.min(q_apply(critic_target_params, batch.next_obs, next_action), axis=0)
        y = sg(td_target(batch.reward, batch.discount, cfg.gamma, next_q))
        return _twin_regression(
            "critic", q_apply(critic_params, batch.obs, batch.action), y, batch.valid
        )

    def qbuf(qbuf_params, value_params, batch):
        """Behaviour-optimal critic: twin Q_buffer to r + gamma * discount * V(s'). Also returns
        min-twin Q_buffer(s, a) at these (pre-step) params, the official actor-weight input."""
        y = sg(
            td_target(
                batch.reward, batch.discount, cfg.gamma, v_apply(value_params, batch.next_obs)
            )
        )
        q = q_apply(qbuf_params, batch.obs, batch.action)
        loss, metrics = _twin_regression("qbuf", q, y, batch.valid)
        return loss, (metrics, sg(jnp.min(q, axis=0)))

    def value(value_params, qbuf_target_params, batch):
        """V(s) by expectile regression (tau = cfg.expectile) on min Q_buffer_target(s, a)."""
        q = sg(jnp.min(q_apply(qbuf_target_params, batch.obs, batch.action), axis=0))
        v = v_apply(value_params, batch.obs)
        loss = masked_mean(expectile_loss(q - v, cfg.expectile), batch.valid)
        return loss, {
            "value/loss": loss,
            "value/v": masked_mean(v, batch.valid),
            "value/above_frac": masked_mean((q > v).astype(jnp.float32), batch.valid),
        }

    def actor(actor_params, critic_params, batch, q_buffer, key):
        """-min Q(s, pi(s)) + weighted flow matching toward buffer actions; see actor_objective.
        a_t = t a + (1 - t) a0, t ~ U(0, 1) per sample, a0 ~ sample_a0 (independent of pi's)."""
        key_pi, key_a0, key_t = jax.random.split(key, 3)
        shape = batch.action.shape
        a_pi = flow_action(actor_params, batch.obs, sample_a0(cfg, key_pi, shape))
        q_pi = jnp.min(q_apply(sg(critic_params), batch.obs, a_pi), axis=0)
        a0 = sample_a0(cfg, key_a0, shape)
        t = jax.random.uniform(key_t, shape[:-1])
        a_t = flow.interpolate(a0, batch.action, t)
        residual = networks.actor.apply(actor_params, batch.obs, a_t, t) - flow.target_velocity(
            a0, batch.action
        )
        return actor_objective(
            q_pi, residual, q_buffer - q_pi, batch.valid, cfg.mode, cfg.lam, cfg.paper_max_weight
        )

    return Losses(critic=critic, qbuf=qbuf, value=value, actor=actor)
