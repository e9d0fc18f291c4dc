"""Headless MP4 of one dm_control episode (`python -m flowrl_mjx.evaluate ... --video out.mp4`).

Rendering needs an OpenGL backend that works without a display: EGL (the NVIDIA driver's on a GPU
machine; Mesa's software EGL, packages libegl1 + libgl1-mesa-dri, on a CPU one) or OSMesa
(libosmesa6). MuJoCo and dm_control read MUJOCO_GL once, when first imported, so the backend is
chosen before anything imports them: each candidate is tried in a child process, and the first
that renders is put into MUJOCO_GL. If the user set MUJOCO_GL, only that one is tried.
Frames go to MP4 through imageio + imageio-ffmpeg (`pip install "flowrl_mjx[video]"`).
"""

import ctypes.util
import os
import subprocess
import sys
import warnings

import numpy as np

CANDIDATES = ("egl", "osmesa")
INSTALL = ("install EGL (apt-get install libegl1 libgl1-mesa-dri; on an NVIDIA GPU machine the "
           "driver's libEGL) or OSMesa (apt-get install libosmesa6)")  # fmt: skip
_LIBRARY = {"egl": "EGL", "osmesa": "OSMesa"}
_PROBE = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom "
          "size=\".1\"/></worldbody></mujoco>'); r = mujoco.Renderer(m, 16, 16); "
          "r.update_scene(mujoco.MjData(m)); r.render(); print('ok')")  # fmt: skip


def check_writer() -> None:
    """Raises ValueError naming the extra to install when imageio/imageio-ffmpeg are missing."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError as e:
        raise ValueError(f"--video needs imageio and imageio-ffmpeg ({e.name} is missing): "
                         "pip install 'flowrl_mjx[video]'") from None  # fmt: skip


def probe(backend: str) -> str | None:
    """None if MuJoCo renders with MUJOCO_GL=backend (in a child process), else why not."""
    lib = _LIBRARY.get(backend)
    if lib and ctypes.util.find_library(lib) is None:
        return f"lib{lib}.so not found"
    env = dict(os.environ, MUJOCO_GL=backend)
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timed out"
    if done.returncode == 0 and "ok" in done.stdout:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit code {done.returncode}")[:120]


def choose_gl(probe_fn=probe) -> str:
    """Sets MUJOCO_GL to a backend that renders here and returns it; ValueError if none does."""
    user = os.environ.get("MUJOCO_GL")
    candidates = (user,) if user else CANDIDATES
    why = {}
    for backend in candidates:
        why[backend] = probe_fn(backend)
        if why[backend] is None:
            os.environ["MUJOCO_GL"] = backend
            return backend
    tried = "; ".join(f"MUJOCO_GL={b}: {w}" for b, w in why.items())
    raise ValueError(f"--video: no headless OpenGL backend renders here ({tried}); {INSTALL}")


def record(task: str, act, path: str, seed: int, episode_length: int, size=(240, 320)) -> int:
    """Renders one episode of `act` (obs batch -> action batch) to `path`; returns frames written.

    Call choose_gl() first (before MuJoCo is imported). The env's task seed is `seed`.
    """
    import imageio

    from flowrl_mjx.dmc_backend import host_group

    group = host_group.EnvGroup(task, [seed], episode_length)
    env = group.envs[0]
    camera = 0 if env.physics.model.ncam > 0 else -1
    fps = round(1.0 / env.control_timestep())
    frames = 0
    try:
        writer = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16)
    except Exception as e:  # imageio raises several types for a bad path or codec
        raise ValueError(f"--video: cannot write {path}: {e}") from None
    with writer, warnings.catch_warnings():
        # ffmpeg runs as a fork+exec child that touches no JAX state; JAX's fork warning is moot.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        obs = group.reset()
        for _ in range(episode_length):
            writer.append_data(_render(env, size, camera))
            frames += 1
            step = group.step(act(obs))
            if step.ended[0]:  # the pool has already reset this env: stop before drawing that
                break
            obs = step.obs
    return frames


def _render(env, size, camera) -> np.ndarray:
    try:
        return np.asarray(env.physics.render(*size, camera_id=camera))
    except Exception as e:  # GL errors come in many types
        raise ValueError(
            f"--video: rendering failed ({type(e).__name__}: {e}); "
            f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}; {INSTALL}"
        ) from None
