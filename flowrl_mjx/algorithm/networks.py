"""The four FlowRL networks as flax.linen modules, shaped as in the official code
(docs/design.md s3).

- VelocityField v(s, a_t, t): MLP on concat(obs, a_t, t) with t a raw scalar feature;
  each hidden layer is Dense -> LayerNorm -> ELU; linear output of size action_size.
- ValueTrunk (shared by Q and V): Dense -> LayerNorm, then per entry of `hidden`
  Dense -> LayerNorm -> GELU, then Dense -> LayerNorm, then Dense(1). With hidden=(512, 512) this
  is the official value block (input layer, two LN+GELU layers, a final LN'd layer, scalar head).
- DoubleQ: two independent ValueTrunk heads on concat(obs, action), output shape (2, *batch).
- ValueNet: one ValueTrunk on obs, output shape (*batch).
Initialisation as the official code: Xavier-uniform kernels, zero biases. LayerNorm epsilon and
exact (erf) GELU follow PyTorch's defaults, which the official code uses.
"""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from flowrl_mjx.algorithm.config import Config

_LN_EPS = 1e-5  # torch.nn.LayerNorm default


def _dense(features: int) -> nn.Dense:
    return nn.Dense(
        features, kernel_init=nn.initializers.xavier_uniform(), bias_init=nn.initializers.zeros
    )


def _gelu(x):
    return nn.gelu(x, approximate=False)


class VelocityField(nn.Module):
    """v(s, a_t, t) -> velocity of shape a_t.shape. t: scalar or shape a_t.shape[:-1]."""

    hidden: tuple
    action_size: int

    @nn.compact
    def __call__(self, obs, a_t, t):
        t = jnp.broadcast_to(jnp.asarray(t, a_t.dtype), a_t.shape[:-1])[..., None]
        x = jnp.concatenate([obs, a_t, t], axis=-1)
        for width in self.hidden:
            x = nn.elu(nn.LayerNorm(epsilon=_LN_EPS)(_dense(width)(x)))
        return _dense(self.action_size)(x)


class ValueTrunk(nn.Module):
    """Scalar head: Dense-LN, (Dense-LN-GELU) per hidden entry, Dense-LN, Dense(1); squeezed."""

    hidden: tuple

    @nn.compact
    def __call__(self, x):
        x = nn.LayerNorm(epsilon=_LN_EPS)(_dense(self.hidden[0])(x))
        for width in self.hidden:
            x = _gelu(nn.LayerNorm(epsilon=_LN_EPS)(_dense(width)(x)))
        x = nn.LayerNorm(epsilon=_LN_EPS)(_dense(self.hidden[-1])(x))
        return _dense(1)(x)[..., 0]


class DoubleQ(nn.Module):
    """Twin Q(s, a): two independently initialised heads, returned stacked, shape (2, *batch).
    Two separate modules rather than one nn.vmap'd pair: faster on CPU (results/perf_changes.md,
    "networks.py")."""

    hidden: tuple

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        return jnp.stack(
            [ValueTrunk(self.hidden, name="q1")(x), ValueTrunk(self.hidden, name="q2")(x)]
        )


class ValueNet(nn.Module):
    """V(s), shape (*batch)."""

    hidden: tuple

    @nn.compact
    def __call__(self, obs):
        return ValueTrunk(self.hidden)(obs)


@dataclasses.dataclass(frozen=True)
class Networks:
    """The modules (stateless definitions; parameters live in AgentState) and the sizes."""

    actor: VelocityField
    critic: DoubleQ  # also the module of Q_buffer
    value: ValueNet
    obs_size: int
    action_size: int


def make_networks(cfg: Config, obs_size: int, action_size: int) -> Networks:
    return Networks(
        actor=VelocityField(tuple(cfg.actor_hidden), action_size),
        critic=DoubleQ(tuple(cfg.critic_hidden)),
        value=ValueNet(tuple(cfg.value_hidden)),
        obs_size=obs_size,
        action_size=action_size,
    )
