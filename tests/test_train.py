"""The fused epoch: runs, is traced once, has no host callback, and learns nothing from NaNs."""

import subprocess
import sys

import jax
import numpy as np

from flowrl_mjx import train
from tests.tiny import CFG as TINY
from tests.tiny import LOOP, programs


def _setup():
    venv, epoch, _ = programs()
    return venv, epoch


def test_epoch_runs_traces_once_and_fills_replay():
    venv, epoch = _setup()
    ts = train.init(jax.random.PRNGKey(0), TINY, LOOP, venv)
    for _ in range(3):
        ts, metrics = epoch(ts)
        assert all(np.isfinite(float(v)) for k, v in metrics.items() if "episode" not in k)
    assert int(ts.env_steps) == 3 * LOOP.iters_per_epoch * LOOP.num_envs
    assert int(ts.replay.size) == 3 * LOOP.iters_per_epoch * LOOP.num_envs
    assert float(metrics["train/learning"]) == 1.0
    learning_iters = 3 * LOOP.iters_per_epoch - -(-TINY.warmup_steps // LOOP.num_envs) + 1
    assert float(metrics["train/updates"]) == TINY.updates_per_iter * learning_iters
    assert epoch._cache_size() == 1  # no recompilation across epochs


def test_epoch_program_has_no_host_callback():
    venv, epoch = _setup()
    ts = jax.eval_shape(lambda k: train.init(k, TINY, LOOP, venv), jax.random.PRNGKey(0))
    text = epoch.lower(ts).as_text()
    for marker in ("callback", "host_compute", "outfeed", "SendToHost"):
        assert marker not in text, f"host round-trip ({marker}) inside the epoch"


def test_bad_input_fails_fast_with_exit_code_2(tmp_path):
    cases = [
        (["--task", "cheetah_rn"], "did you mean: cheetah_run"),
        (["--batch_size", "0"], "batch_size"),
        (["--batch_size", "512", "--replay_size", "256", "--recent_window", "0"], "replay"),
        (["--num_envs", "0"], "num_envs"),
        (["--num_envs", "256", "--recent_window", "100"], "one iteration's inserts"),
        (["--replay_size", "100000000000", "--recent_fraction", "0"], "GiB"),
        (["--run_dir", str(tmp_path / "f" / "x")], None),
        (["--num_seeds", "0"], "num_seeds"),
        (["--num_devices", "3"], "only 1 cpu device"),
        (["--num_seeds", "2", "--backend", "dm_control"], "--backend mjx"),
    ]
    (tmp_path / "f").write_text("a file, not a folder")
    # All at once: each process spends its ~5 s importing jax, mujoco and dm_control.
    cmd = [sys.executable, "-m", "flowrl_mjx.launch"]
    procs = [subprocess.Popen(cmd + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for args, _ in cases]  # fmt: skip
    for (args, needle), proc in zip(cases, procs, strict=True):
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 2, (args, stderr[-500:])
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("error:"), last
        if needle:
            assert needle in last, (needle, last)
