"""Base class of every task: one dm_control task on MJX, written for a single instance.

A subclass supplies the model (`build_model`), the episode initialisation, and the observation,
reward and termination functions as dm_control's Task defines them. This class owns what is common:
action scaling, the control step (envs.physics), flattening observations in dm_control's key
order, overrides, and the brax `Env` interface (so brax.training agents run on it unchanged).
"""

import collections
from typing import ClassVar, Optional

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from brax.envs.base import Env as BraxEnv
from brax.envs.base import State
from mujoco import mjx

from envs import model_io, physics

# dm_control suite episodes: 1000 control steps (time limit / control timestep); a truncation.
EPISODE_LENGTH = 1000
# Penetration-rejection resets: dm_control retries without bound; we stop after this many tries
# (the count of envs that still penetrate is reported in info['reset_failures']).
MAX_RESET_TRIES = 64

# Overrides every task accepts in envs.load(name, **overrides).
BASE_OVERRIDES = {
    "model_file": "path of an exported .mjb to use instead of building from dm_control",
    "episode_length": "control steps per episode (default 1000, as dm_control)",
    "solver_iterations": "MJX constraint-solver iterations (default: the dm_control model's)",
    "ls_iterations": "MJX line-search iterations (default: the dm_control model's)",
    "jacobian": "MuJoCo's opt.jacobian, which MJX reads to choose the mass matrix's layout: "
    "'dense', 'sparse' or 'auto' (MJX: sparse from nv 60 on; default: the dm_control model's)",
}

# opt.jacobian's names (the `jacobian` override) -> MuJoCo's enum.
_JACOBIANS = {
    "dense": mujoco.mjtJacobian.mjJAC_DENSE,
    "sparse": mujoco.mjtJacobian.mjJAC_SPARSE,
    "auto": mujoco.mjtJacobian.mjJAC_AUTO,
}


class DMCEnv(BraxEnv):
    """Shared machinery; see module doc. Subclasses set the class attributes below."""

    domain: ClassVar[str]
    task: ClassVar[str]
    control_timestep: ClassVar[float]  # seconds per control step, as in dm_control
    patches: ClassVar[tuple] = ()
    task_overrides: ClassVar[dict] = {}  # extra overrides: name -> doc (defaults in __init__)
    # Max |obs difference| after one control step from dm_control's state (parity test + report).
    step_tolerance: ClassVar[float] = 1e-4
    # The same for the step from a reset state, where it differs (None: step_tolerance), with
    # its measured reason where it is set.
    reset_step_tolerance: ClassVar[Optional[float]] = None
    # False where XLA:CPU's fusion emitters make this task's batched programs far slower
    # (figures: results/perf_changes.md): on CPU they then compile without them at every env
    # count (jax_setup).
    cpu_fusion_emitters: ClassVar[bool] = True

    def __init__(
        self,
        model_file=None,
        episode_length=EPISODE_LENGTH,
        solver_iterations=None,
        ls_iterations=None,
        jacobian=None,
        **task_kwargs,
    ):
        unknown = set(task_kwargs) - set(self.task_overrides)
        if unknown:
            valid = sorted(BASE_OVERRIDES) + sorted(self.task_overrides)
            raise ValueError(
                f"unknown override(s) {sorted(unknown)} for {self.name}; valid: {valid}"
            )
        if episode_length is not None and (
            int(episode_length) != episode_length or episode_length < 1
        ):
            raise ValueError(f"episode_length must be a positive integer, got {episode_length!r}")
        self.task_kwargs = task_kwargs
        if model_file is not None:
            self.mj_model = model_io.load_mjb(model_file)
        else:
            self.mj_model = model_io.build_model(*self.model_xml(), self.patches)
        for field, value in (("iterations", solver_iterations), ("ls_iterations", ls_iterations)):
            if value is not None:
                if int(value) != value or value < 1:
                    raise ValueError(f"{field} must be a positive integer, got {value!r}")
                setattr(self.mj_model.opt, field, int(value))
        if jacobian is not None:
            if jacobian not in _JACOBIANS:
                raise ValueError(f"jacobian must be one of {sorted(_JACOBIANS)}, got {jacobian!r}")
            self.mj_model.opt.jacobian = _JACOBIANS[jacobian]
        self.episode_length = episode_length
        self.n_substeps = int(round(self.control_timestep / self.mj_model.opt.timestep))
        self.mjx_model = mjx.put_model(self.mj_model)
        self._setup()
        limited = self.mj_model.actuator_ctrllimited.astype(bool)
        lo, hi = self.mj_model.actuator_ctrlrange.T
        self._ctrl_lo = jnp.asarray(np.where(limited, lo, -1.0), jnp.float32)
        self._ctrl_hi = jnp.asarray(np.where(limited, hi, 1.0), jnp.float32)
        obs_shapes = jax.eval_shape(lambda: self._get_obs(*self._dummy()))
        self.obs_keys = tuple(obs_shapes)
        self.obs_sizes = {k: int(np.prod(v.shape)) for k, v in obs_shapes.items()}

    # ----- to be provided by a task -----
    @classmethod
    def model_xml(cls) -> tuple[str, dict]:
        """(MJCF string, assets) from the installed dm_control package."""
        return model_io.dm_control_xml(cls.domain)

    def _setup(self) -> None:
        """Looks up ids/constants on self.mj_model (runs once, at construction)."""

    def _initialize_episode(self, key, data: mjx.Data) -> tuple[mjx.Data, dict]:
        """Randomises the initial state as the dm_control task does; returns (data, info)."""
        raise NotImplementedError

    def _get_obs(self, data: mjx.Data, info: dict) -> collections.OrderedDict:
        raise NotImplementedError

    def _get_reward(self, data: mjx.Data, info: dict) -> jax.Array:
        raise NotImplementedError

    # ----- a state's observation and reward, for tools that set states (the parity harness) -----
    def observation(self, data: mjx.Data, info: dict) -> collections.OrderedDict:
        """dm_control's observation dict of a state (what `step` flattens into State.obs)."""
        return self._get_obs(data, info)

    def reward(self, data: mjx.Data, info: dict) -> jax.Array:
        """The task's reward in a state (what `step` returns after its control step)."""
        return self._get_reward(data, info)

    @property
    def ctrl_range(self) -> tuple:
        """(low, high) of each actuator: the [-1, 1] action maps onto it (unlimited: +-1)."""
        return self._ctrl_lo, self._ctrl_hi

    def _get_termination(self, data: mjx.Data, info: dict) -> jax.Array:
        """True when the task ends the episode (discount 0). Most tasks never do."""
        return jnp.zeros((), bool)

    # ----- common machinery -----
    @property
    def name(self) -> str:
        return f"{self.domain}_{self.task}"

    def _dummy(self):
        data = mjx.make_data(self.mjx_model)
        _, info = jax.eval_shape(self._initialize_episode, jax.random.PRNGKey(0), data)
        info = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info)
        return data, info

    def flatten_obs(self, obs: dict) -> jax.Array:
        """dm_control's flattening: values raveled and concatenated in key order."""
        return jnp.concatenate([jnp.ravel(jnp.asarray(v, jnp.float32)) for v in obs.values()])

    def reset(self, key) -> State:
        data = mjx.make_data(self.mjx_model)
        data, info = self._initialize_episode(key, data)
        data = physics.forward(self.mjx_model, data)
        return self._make_state(data, info, jnp.zeros(()), jnp.zeros(()))

    def control(self, data: mjx.Data, action: jax.Array, info: dict) -> tuple[mjx.Model, mjx.Data]:
        """This episode's model, and `data` with `action` in [-1, 1] applied (ctrl scaled to
        ctrlrange).

        A task whose per-episode quantities act on the dynamics (dm_control writes them into the
        model) overrides this to apply them from `info`; physics_step, the parity harness and
        launch/parity_sweep.py step through it.
        """
        action = jnp.clip(action, -1.0, 1.0)
        ctrl = self._ctrl_lo + (action + 1.0) * 0.5 * (self._ctrl_hi - self._ctrl_lo)
        return self.mjx_model, data.replace(ctrl=ctrl)

    def physics_step(self, data: mjx.Data, action: jax.Array, info: dict) -> mjx.Data:
        """One control step from `data` with `action` in [-1, 1]."""
        model, data = self.control(data, action, info)
        return physics.step(model, data, data.ctrl, self.n_substeps)

    def step(self, state: State, action: jax.Array) -> State:
        data = self.physics_step(state.pipeline_state, action, state.info)
        reward = self._get_reward(data, state.info)
        done = self._get_termination(data, state.info).astype(jnp.float32)
        new = self._make_state(data, state.info, reward, done)
        return new.replace(metrics=state.metrics)

    def _make_state(self, data, info, reward, done) -> State:
        obs = self.flatten_obs(self._get_obs(data, info))
        reward = jnp.asarray(reward, jnp.float32)
        return State(data, obs, reward, jnp.asarray(done, jnp.float32), {}, dict(info))

    def reject_penetration(self, key, data: mjx.Data, sample_qpos) -> tuple[mjx.Data, jax.Array]:
        """Redraws qpos = sample_qpos(key, qpos0) until no contact is active (dm_control's loop).

        Returns (data, failed): failed is True if MAX_RESET_TRIES draws all penetrated.
        """

        def draw(carry):
            key, _, tries, _ = carry
            key, k = jax.random.split(key)
            d = data.replace(qpos=sample_qpos(k, data.qpos))
            d = mjx.forward(self.mjx_model, d)
            return key, d, tries + 1, physics.num_contacts(d) > 0

        def more(carry):
            _, _, tries, penetrating = carry
            return penetrating & (tries < MAX_RESET_TRIES)

        init = draw((key, data, jnp.zeros((), jnp.int32), jnp.ones((), bool)))
        _, d, _, penetrating = jax.lax.while_loop(more, draw, init)
        return d, penetrating

    # ----- brax Env interface -----
    @property
    def dt(self) -> float:
        return self.n_substeps * float(self.mj_model.opt.timestep)

    @property
    def observation_size(self) -> int:
        return sum(self.obs_sizes.values())

    @property
    def action_size(self) -> int:
        return int(self.mj_model.nu)

    @property
    def backend(self) -> str:
        return "mjx"

    # ----- parity with dm_control -----
    def info_from_dm_control(self, dm_env) -> dict:
        """Our episode info (e.g. target positions) read from a live dm_control env."""
        return {}
