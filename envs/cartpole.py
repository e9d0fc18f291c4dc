"""Cartpole (dm_control.suite.cartpole): balance or swing up 1-3 poles hinged on a sliding cart.

balance*: the poles start near upright; swingup*, two_poles, three_poles: they start hanging down.
The dense reward multiplies uprightness, centring, small control and small angular velocity; the
sparse one is 1 only while the cart is within +-0.25 and every pole within ~5.7 degrees of upright.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np

from envs import base, model_io, rewards

_CART_RANGE = (-0.25, 0.25)  # sparse reward: cart position bounds
_ANGLE_COSINE_RANGE = (0.995, 1.0)  # sparse reward: pole angle cosine bounds
_BALANCE_CART = 0.1  # balance: cart position ~ U(-0.1, 0.1)
_BALANCE_ANGLE = 0.034  # balance: every hinge angle ~ U(-0.034, 0.034)
_SWINGUP_FIRST_STD = 0.01  # swing-up: std of the cart position and first-pole offset from pi
_SWINGUP_OTHER_STD = 0.1  # swing-up: std of the angles of the poles after the first
_VELOCITY_STD = 0.01  # all tasks: std of the symmetry-breaking initial velocity
_XZ, _ZZ = 2, 8  # indices of the 'xz' and 'zz' entries in a flattened row-major xmat


class Cartpole(base.DMCEnv):
    """dm_control's cartpole Balance task; subclasses fix swing_up, sparse and the pole count."""

    domain = "cartpole"
    control_timestep = 0.01  # dm_control default: the physics timestep (1 substep)
    # 10 s time limit / 0.01 s = 1000 control steps, the base default.
    patches = (model_io.DROP_ENERGY,)
    # Measured max one-step obs error (float32, RK4): 4e-7 on random-action states (60 x 3 seeds),
    # 1.2e-5 with held actions (fast-swinging three poles), and 2.9e-4 (pole velocity) when the
    # cart hits its slider limit; the latter vanishes with MJX in float64 (float32 solver).
    step_tolerance = 1e-3
    swing_up: bool
    sparse: bool
    num_poles = 1

    @classmethod
    def model_xml(cls):
        xml, assets = model_io.dm_control_xml(cls.domain, cls.num_poles)
        # dm_control returns lxml bytes when it generates the multi-pole chain.
        return (xml.decode() if isinstance(xml, bytes) else xml), assets

    def _setup(self):
        assert self.mj_model.nbody == 2 + self.num_poles  # world, cart, then the pole chain

    def _initialize_episode(self, key, data):
        nv = self.mj_model.nv
        k_cart, k_angle, k_vel = jax.random.split(key, 3)
        if self.swing_up:
            cart = _SWINGUP_FIRST_STD * jax.random.normal(k_cart, ())
            angles = jax.random.normal(k_angle, (nv - 1,))
            angles = angles * jnp.array([_SWINGUP_FIRST_STD] + [_SWINGUP_OTHER_STD] * (nv - 2))
            angles = angles.at[0].add(np.pi)
        else:
            cart = jax.random.uniform(k_cart, (), minval=-_BALANCE_CART, maxval=_BALANCE_CART)
            angles = jax.random.uniform(
                k_angle, (nv - 1,), minval=-_BALANCE_ANGLE, maxval=_BALANCE_ANGLE
            )
        qpos = jnp.concatenate([cart[None], angles])
        qvel = _VELOCITY_STD * jax.random.normal(k_vel, (nv,))
        return data.replace(qpos=qpos, qvel=qvel), {}

    def _pole_xmat(self, data):
        return data.xmat[2:].reshape(-1, 9)

    def _get_obs(self, data, info):
        poles = self._pole_xmat(data)
        position = jnp.concatenate([data.qpos[:1], poles[:, (_ZZ, _XZ)].ravel()])
        return collections.OrderedDict(position=position, velocity=data.qvel)

    def _get_reward(self, data, info):
        cart, cosines = data.qpos[0], self._pole_xmat(data)[:, _ZZ]
        if self.sparse:
            cart_in_bounds = rewards.tolerance(cart, _CART_RANGE)
            angle_in_bounds = jnp.prod(rewards.tolerance(cosines, _ANGLE_COSINE_RANGE))
            return cart_in_bounds * angle_in_bounds
        upright = (cosines + 1) / 2
        centered = (1 + rewards.tolerance(cart, margin=2)) / 2
        control = rewards.tolerance(data.ctrl[0], margin=1, value_at_margin=0, sigmoid="quadratic")
        small_control = (4 + control) / 5
        small_velocity = (1 + jnp.min(rewards.tolerance(data.qvel[1:], margin=5))) / 2
        return jnp.mean(upright) * small_control * small_velocity * centered


class Balance(Cartpole):
    task, swing_up, sparse = "balance", False, False


class BalanceSparse(Cartpole):
    task, swing_up, sparse = "balance_sparse", False, True


class Swingup(Cartpole):
    task, swing_up, sparse = "swingup", True, False


class SwingupSparse(Cartpole):
    task, swing_up, sparse = "swingup_sparse", True, True


class TwoPoles(Cartpole):
    task, swing_up, sparse, num_poles = "two_poles", True, False, 2


class ThreePoles(Cartpole):
    task, swing_up, sparse, num_poles = "three_poles", True, False, 3


TASKS = {
    cls.task: cls for cls in (Balance, BalanceSparse, Swingup, SwingupSparse, TwoPoles, ThreePoles)
}
