"""Real dm_control environments, loaded the same way for parity, evaluation and the host backend.

One machine-dependent wrinkle: quadruped_escape uploads its per-episode heightfield to the OpenGL
context during reset when dm_control can make one, and dm_control tries to make one whenever
`physics.contexts` is read. On a headless machine without EGL/OSMesa/GLFW that read raises. The
upload only feeds rendering, so there we give the physics a `contexts` of None (dm_control's own
"no rendering context" value) and the simulation is unchanged.
"""

import functools
import os

import numpy as np


def _no_renderer() -> bool:
    """True when creating a dm_control GL context would raise: no backend found, MUJOCO_GL=disable,
    or GLFW chosen without a display."""
    from dm_control._render import BACKEND, constants

    no_display = BACKEND in constants.GLFW and not os.environ.get("DISPLAY")
    return BACKEND is None or BACKEND in constants.NO_RENDERER or no_display


@functools.cache
def _without_contexts(cls: type) -> type:
    """A subclass of a dm_control Physics class whose `contexts` is None (no GL upload)."""
    return type(cls.__name__, (cls,), {"contexts": property(lambda self: None)})


def load(domain: str, task: str, seed: int, **environment_kwargs):
    """dm_control.suite.load(domain, task) with task seed `seed`, usable on headless machines."""
    from dm_control import suite

    env = suite.load(domain, task, task_kwargs={"random": seed},
                     environment_kwargs=environment_kwargs or None)  # fmt: skip
    if _no_renderer():
        env.physics.__class__ = _without_contexts(type(env.physics))
    return env


def flat_obs(obs) -> np.ndarray:
    """A dm_control observation dict as one flat array, in the dict's (dm_control's) key order:
    the layout of the MJX tasks' observations."""
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in obs.values()])


def quietly(build):
    """Runs build() with absl warnings muted: MuJoCo warns once per compiled walker/hopper/...
    model that its MJCF uses the deprecated `settotalmass`; with many envs that floods the log
    (and the CLI's bad-input message is one stderr line)."""
    from absl import logging

    level = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        return build()
    finally:
        logging.set_verbosity(level)
