"""python -m flowrl_mjx.evaluate: dm_control returns equal a hand-written dm_control loop, the
transfer report, one-line errors (exit 2), and the --video path (MP4, or a clear install line)."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowrl_mjx
from envs import dmc
from envs.dmc import flat_obs
from flowrl_mjx.algorithm.networks import make_networks
from flowrl_mjx.algorithm.train import LoopConfig
from flowrl_mjx.analysis import evaluate, video
from flowrl_mjx.dmc_backend import host_env
from flowrl_mjx.runtime import policy_io
from flowrl_mjx.runtime.run_config import RunConfig
from tests.tiny import CFG, TASK

LENGTH, EPISODES, SEED = 30, 2, 5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run dir holding a fixed (randomly initialised) tiny policy for cartpole_balance."""
    path = tmp_path_factory.mktemp("evaluate") / "run"
    path.mkdir()
    nets = make_networks(CFG, 5, 1)
    params = nets.actor.init(jax.random.PRNGKey(1), jnp.zeros((1, 5)), jnp.zeros((1, 1)), 0.0)
    policy_io.save_actor(str(path), params)
    run = RunConfig(task=TASK, config=CFG, loop=LoopConfig(), obs_size=5, action_size=1)
    (path / "config.json").write_text(json.dumps(run.to_json()))
    return str(path)


def _hand_loop(run_dir):
    """dm_control episodes written out by hand, acting on the stacked obs of all envs."""
    act = flowrl_mjx.load_policy(run_dir, deterministic=True)
    seeds = host_env.env_seeds(SEED, EPISODES, host_env.EVALUATE)
    dm_envs = [dmc.load("cartpole", "balance", s) for s in seeds]
    obs = [flat_obs(e.reset().observation) for e in dm_envs]
    totals = [0.0] * EPISODES
    for _ in range(LENGTH):
        actions = act(np.stack(obs))
        for i, e in enumerate(dm_envs):
            ts = e.step(actions[i])
            totals[i] += ts.reward
            obs[i] = flat_obs(ts.observation)
    return totals


def test_report_matches_hand_written_dm_control_loop(run, capsys):
    argv = ["--run_dir", run, "--episodes", str(EPISODES), "--episode_length", str(LENGTH),
            "--seed", str(SEED)]  # fmt: skip
    assert evaluate.main(argv) == 0
    report = json.load(open(os.path.join(run, "eval_transfer.json")))
    det = report["dm_control"]["deterministic"]
    assert det["returns"] == pytest.approx(_hand_loop(run), rel=1e-12)
    for backend in ("dm_control", "mjx"):
        for mode in evaluate.MODES:
            cell = report[backend][mode]
            assert len(cell["returns"]) == EPISODES and 0 < cell["mean"] <= LENGTH
    gap = report["gap_mjx_minus_dm_control"]
    mjx_det = report["mjx"]["deterministic"]["mean"]
    assert gap["deterministic"] == pytest.approx(mjx_det - det["mean"])
    assert report["task"] == TASK and report["machine"]["cpu_cores"] >= 1
    printed = capsys.readouterr().out
    assert "gap (mjx - dm_control)" in printed and "| eval protocol |" in printed
    # each row names its protocol, the official one (stochastic) first
    sto = printed.index("| stochastic (a0 ~ N(0, I), official protocol) |")
    assert sto < printed.index("| deterministic (a0 = 0) |")


def test_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys):
    assert evaluate.main(["--run_dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "config.json" in err and "\n" not in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert evaluate.main(["--run_dir", str(bad)]) == 2
    assert "malformed" in capsys.readouterr().err
    (bad / "config.json").write_text(json.dumps(dict(task=TASK)))
    assert evaluate.main(["--run_dir", str(bad), "--backend", "dm_control"]) == 2
    assert "policy" in capsys.readouterr().err  # no policy.msgpack
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--run_dir", run, "--backend", "pybullet"])
    assert e.value.code == 2


def test_no_gl_backend_names_what_to_install(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    tried = []
    fail = lambda b: tried.append(b) or "libX.so not found"
    with pytest.raises(ValueError) as e:
        video.choose_gl(fail)
    msg = str(e.value)
    assert tried == ["egl", "osmesa"] and "\n" not in msg
    assert "apt-get install libosmesa6" in msg and "libegl1" in msg and "MUJOCO_GL=osmesa" in msg
    monkeypatch.setenv("MUJOCO_GL", "osmesa")  # a user's choice is the only one tried
    tried.clear()
    with pytest.raises(ValueError):
        video.choose_gl(fail)
    assert tried == ["osmesa"]
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ValueError, match=r"pip install 'flowrl_mjx\[video\]'"):
        video.check_writer()


def test_video_cli_writes_mp4_or_says_what_to_install(run, tmp_path):
    out = tmp_path / "episode.mp4"
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    argv = ["--run_dir", run, "--backend", "dm_control", "--episodes", "1", "--episode_length",
            "6", "--video", str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "flowrl_mjx.evaluate", *argv], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode == 2:  # a machine without EGL/OSMesa: one line naming what to install
        assert "apt-get install" in done.stderr and not out.exists()
        return
    assert done.returncode == 0, done.stderr[-2000:]
    import imageio.v3 as iio

    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 6 and frames.shape[-1] == 3 and frames.std() > 0
    video_report = json.load(open(os.path.join(run, "eval_transfer.json")))["video"]
    assert video_report["frames"] == 6 and video_report["protocol"] == "deterministic"
    assert "video: one deterministic (a0 = 0) dm_control episode" in done.stdout
