"""dm_control loading on a machine without any OpenGL backend (as on CI)."""

import numpy as np
import pytest
from dm_control import _render
from dm_control.mujoco import engine

from envs import dmc


def _no_gl(**kwargs):
    raise RuntimeError("No OpenGL rendering backend is available.")


def test_escape_resets_headless_with_unchanged_physics(monkeypatch):
    reference = _three_steps(dmc.load("quadruped", "escape", seed=5))  # GL upload if possible
    monkeypatch.setattr(_render, "BACKEND", None)
    monkeypatch.setattr(engine._render, "Renderer", _no_gl)
    headless = dmc.load("quadruped", "escape", seed=5)
    with pytest.raises(RuntimeError, match="OpenGL"):
        engine.Physics.contexts.fget(headless.physics)  # what dm_control's reset would hit
    # Same seed, same physics: the heightfield upload only feeds rendering.
    np.testing.assert_array_equal(_three_steps(headless), reference)


def _three_steps(env):
    ts = env.reset()
    for _ in range(3):
        ts = env.step(np.zeros(12))
    return np.concatenate([v.ravel() for v in ts.observation.values()])
