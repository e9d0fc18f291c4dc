"""Shared test setup: CPU only, and the dm_control rollouts reused across parity tests."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MUJOCO_GL", "disable")
