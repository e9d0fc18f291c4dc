"""One training iteration of learning: K = cfg.updates_per_iter FlowRL updates under lax.scan.

Each update, in the official code's order, on one sampled batch:
  1. critic    twin Q to r + gamma d min Q_target(s', pi(s'))            (Adam step)
  2. Q_buffer  twin Q_buffer to r + gamma d V(s'); keeps min Q_buffer(s, a) before its step
  3. V         expectile regression on min Q_buffer_target(s, a)
  4. actor     if step % policy_delay == 0, using the critic after step 1 and Q_buffer of step 2
  5. targets   if step % target_delay == 0: target <- rate * target + (1 - rate) * online,
               for critic and Q_buffer (rate = cfg.target_rate; official 0.05)
  then step += 1. The counter starts at 0, so the first update moves the actor and the targets.
metrics: the K updates' means, and train/updates = the count of updates done so far.
With cfg.obs_norm, each sampled batch's obs and next_obs are normalised with the agent's running
statistics as they stand when the call starts (the same for all K updates; replay keeps raw
observations, and no gradient reaches the statistics).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from flowrl_mjx.algorithm import normalizer, replay
from flowrl_mjx.algorithm.agent import AgentState, optimizer
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.losses import Losses
from flowrl_mjx.algorithm.networks import Networks


def averaged(metrics: dict, ran) -> dict:
    """Mean over the K updates; actor/* averaged over the updates where the actor ran (0 if none).
    actor/updated = fraction of the K updates that stepped the actor (weight for later means)."""
    n_ran = jnp.maximum(jnp.sum(ran), 1.0)
    out = {}
    for name, vals in metrics.items():
        actor = name.startswith("actor/")
        out[name] = jnp.sum(vals * ran) / n_ran if actor else jnp.mean(vals)
    out["actor/updated"] = jnp.mean(ran)
    return out


def make_update(cfg: Config, networks: Networks, losses: Losses, stride: int = 1) -> Callable:
    """update(agent_state, replay_state, key) -> (agent_state, metrics); pure, jittable; cfg is
    closed over (never traced). metrics: dict of float32 scalars, see `averaged`. stride: the
    transitions one iteration inserts (num_envs), which separate an env's consecutive steps in
    the replay ring; read only under cfg.n_step > 1. losses: make_losses' (learner.build makes
    the one set of functions the update and everything else use)."""
    cfg.validate()
    tx = optimizer(cfg)

    def adam_step(loss_fn, params, opt_state, *args):
        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *args)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, aux

    def value_steps(state: AgentState, batch, key):
        p, o = state.params, state.opt
        critic, critic_opt, m_critic = adam_step(
            losses.critic, p.critic, o.critic, p.actor, p.critic_target, batch, key
        )
        qbuf, qbuf_opt, (m_qbuf, q_buffer) = adam_step(losses.qbuf, p.qbuf, o.qbuf, p.value, batch)
        value, value_opt, m_value = adam_step(losses.value, p.value, o.value, p.qbuf_target, batch)
        state = state.replace(
            params=p.replace(critic=critic, qbuf=qbuf, value=value),
            opt=o.replace(critic=critic_opt, qbuf=qbuf_opt, value=value_opt),
        )
        return state, {**m_critic, **m_qbuf, **m_value}, q_buffer

    def actor_step(state: AgentState, batch, q_buffer, key):
        p, o = state.params, state.opt
        actor, actor_opt, metrics = adam_step(
            losses.actor, p.actor, o.actor, p.critic, batch, q_buffer, key
        )
        return state.replace(params=p.replace(actor=actor), opt=o.replace(actor=actor_opt)), metrics

    def maybe_actor_step(state, batch, q_buffer, key):
        do = state.step % cfg.policy_delay == 0
        shapes = jax.eval_shape(actor_step, state, batch, q_buffer, key)[1]
        skip = lambda s, *_: (s, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes))
        state, metrics = jax.lax.cond(do, actor_step, skip, state, batch, q_buffer, key)
        return state, metrics, do.astype(jnp.float32)

    def target_step(state: AgentState):
        p = state.params
        do = state.step % cfg.target_delay == 0
        rate = cfg.target_rate

        def mix(target, online):
            return jnp.where(do, rate * target + (1.0 - rate) * online, target)

        return state.replace(
            params=p.replace(
                critic_target=jax.tree.map(mix, p.critic_target, p.critic),
                qbuf_target=jax.tree.map(mix, p.qbuf_target, p.qbuf),
            )
        )

    def network_batch(stats, batch: replay.Transition) -> replay.Transition:
        """The batch as the networks see it: both observations normalised under cfg.obs_norm."""
        norm = lambda obs: normalizer.inputs(cfg.obs_norm, stats, obs)
        return batch.replace(obs=norm(batch.obs), next_obs=norm(batch.next_obs))

    def one_update(state: AgentState, replay_state, stats, key):
        key_sample, key_critic, key_actor = jax.random.split(key, 3)
        batch = replay.sample(
            replay_state,
            key_sample,
            cfg.batch_size,
            cfg.recent_fraction,
            cfg.recent_window,
            cfg.n_step,
            stride,
            cfg.gamma,
        )
        batch = network_batch(stats, batch)
        state, metrics, q_buffer = value_steps(state, batch, key_critic)
        state, m_actor, ran = maybe_actor_step(state, batch, q_buffer, key_actor)
        state = target_step(state)
        return state.replace(step=state.step + 1), ({**metrics, **m_actor}, ran)

    def update(agent_state: AgentState, replay_state, key):
        keys = jax.random.split(key, cfg.updates_per_iter)
        stats = agent_state.obs_norm  # fixed for the K updates (read only under cfg.obs_norm)
        agent_state, (metrics, ran) = jax.lax.scan(
            lambda s, k: one_update(s, replay_state, stats, k), agent_state, keys
        )
        # The running count, not a mean: the epoch reports train/* at its last iteration.
        updates = {"train/updates": agent_state.step.astype(jnp.float32)}
        return agent_state, {**averaged(metrics, ran), **updates}

    return update
