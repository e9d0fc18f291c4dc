"""A trained policy outside the training program: `flowrl_mjx.load_policy(run_dir)`.

The runner writes the actor's parameters to run_dir/policy.msgpack at every checkpoint (a small
file, written atomically), so a policy loads without restoring the replay or env states. The file
holds {"actor": parameters, "obs_norm": observation statistics}; files written before the
statistics existed hold the parameters alone and still load (their runs had no obs_norm).
"""

import os
from collections.abc import Mapping

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from flowrl_mjx.algorithm import learner, normalizer
from flowrl_mjx.runtime import run_config

POLICY_FILE = "policy.msgpack"


def save_actor(run_dir: str, actor_params, obs_norm=None) -> None:
    """Writes the actor and, when given, the observation statistics (agent.AgentState.obs_norm)."""
    payload = {"actor": actor_params}
    if obs_norm is not None:
        payload["obs_norm"] = obs_norm
    path = os.path.join(run_dir, POLICY_FILE)
    with open(path + ".tmp", "wb") as f:
        f.write(flax.serialization.to_bytes(jax.device_get(payload)))
    os.replace(path + ".tmp", path)


def _read(blob: bytes, template, obs_size: int):
    """(actor params, NormState or None) from a policy file's bytes, either layout."""
    raw = flax.serialization.msgpack_restore(blob)
    if "actor" not in raw:  # the older layout: the actor's parameters alone
        return flax.serialization.from_state_dict(template, raw), None
    params = flax.serialization.from_state_dict(template, raw["actor"])
    stats = raw.get("obs_norm")
    if stats is not None:
        stats = flax.serialization.from_state_dict(normalizer.init(obs_size), stats)
    return params, stats


def load_policy(run_dir: str, deterministic: bool = True, seed: int = 0):
    """act(obs) -> action for a flat dm_control-ordered observation (one, or a batch), or for a
    dm_control observation dict as is (`timestep.observation`, one env), flattened the way
    training saw it: values raveled and concatenated in key order.

    Actions are in [-1, 1]; `deterministic` integrates from a0 = 0, otherwise a0 ~ N(0, I).
    For a dm_control env, scale to its action_spec: low + (a + 1) / 2 * (high - low) (for the
    suite's [-1, 1] actuators this is the identity).
    """
    try:
        with open(os.path.join(run_dir, POLICY_FILE), "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ValueError(
            f"cannot load a policy from {run_dir}: {e.strerror}: {e.filename}"
        ) from None
    run = run_config.load(run_dir)
    cfg, obs_size, action_size = run.config, run.obs_size, run.action_size
    agent_fns = learner.build(cfg, obs_size, action_size)
    nets = agent_fns.nets
    template = nets.actor.init(jax.random.PRNGKey(0), jnp.zeros((1, obs_size)),
                               jnp.zeros((1, action_size)), 0.0)  # fmt: skip
    try:
        params, stats = _read(blob, template, obs_size)
    except Exception as e:  # msgpack raises several types on truncated data
        raise ValueError(f"corrupt policy file in {run_dir}: {type(e).__name__}") from None
    if cfg.obs_norm and stats is None:
        raise ValueError(f"{run_dir} was trained with obs_norm but its policy file has no "
                         "observation statistics")  # fmt: skip
    act_policy = agent_fns.act

    def act_fn(params, stats, obs, key, deterministic):
        """The training program's way of acting: normalised inputs under cfg.obs_norm."""
        return act_policy(params, normalizer.inputs(cfg.obs_norm, stats, obs), key, deterministic)

    act_fn = jax.jit(act_fn, static_argnums=4)
    key = [jax.random.PRNGKey(seed)]

    def act(obs) -> np.ndarray:
        if isinstance(obs, Mapping):  # the host backend's flattening, so both see the same vector
            from envs.dmc import flat_obs

            obs = flat_obs(obs)
        obs = np.asarray(obs, np.float32)
        if obs.shape[-1] != obs_size:
            raise ValueError(f"observation has size {obs.shape[-1]}, the policy expects {obs_size}")
        key[0], k = jax.random.split(key[0])
        return np.asarray(act_fn(params, stats, obs, k, deterministic))

    return act
