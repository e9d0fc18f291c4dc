"""Host loop: exact resume, corrupt-checkpoint fallback, clean stop on SIGTERM, load_policy."""

import json
import os
import signal

import numpy as np
import pytest

import flowrl_mjx
from flowrl_mjx import checkpoint, run_dir, runner, train
from tests.tiny import CFG, LOOP, PER_EPOCH, metrics, programs, train_run
from tests.tiny import env as _env


def _train(path, epochs, resume=False):
    return metrics(train_run(path, epochs, resume=resume))


def _strip(row):
    return {k: v for k, v in row.items() if k not in ("wall_time", "perf/sps")}


def test_resume_continues_exactly(tmp_path):
    straight = _train(tmp_path / "a", 3)
    _train(tmp_path / "b", 2)
    compiled = programs()[1]._cache_size()
    resumed = _train(tmp_path / "b", 3, resume=True)
    assert programs()[1]._cache_size() == compiled  # a restored state reuses the compiled epoch
    assert [r["env_steps"] for r in resumed] == [PER_EPOCH, 2 * PER_EPOCH, 3 * PER_EPOCH]
    for a, b in zip(straight, resumed, strict=True):
        assert _strip(a).keys() == _strip(b).keys()
        for k in _strip(a):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # load_policy on the finished run: acts on flat observations, rejects wrong sizes
    act = flowrl_mjx.load_policy(str(tmp_path / "a"))
    a = act(np.zeros(_env().observation_size))
    assert a.shape == (_env().action_size,) and np.all(np.abs(a) <= 1)
    with pytest.raises(ValueError, match="size"):
        act(np.zeros(3))


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path):
    _train(tmp_path / "c", 2)
    ckpt = checkpoint.Checkpoints(str(tmp_path / "c"))
    steps = ckpt.steps()
    assert steps == [PER_EPOCH, 2 * PER_EPOCH]
    newest = tmp_path / "c" / "checkpoints" / str(steps[-1])
    for root, _, files in os.walk(newest):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(3)
    env = _env()
    venv, _, _ = runner.programs(CFG, LOOP, env)
    import jax

    abstract = jax.eval_shape(lambda k: train.init(k, CFG, LOOP, venv), jax.random.PRNGKey(0))
    state, meta = ckpt.restore_latest(abstract)
    assert meta["epoch"] == 1 and int(state.env_steps) == PER_EPOCH


def test_sigterm_saves_and_stops(tmp_path, monkeypatch):
    original = run_dir.RunLog.write

    def write_then_signal(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(run_dir.RunLog, "write", write_then_signal)
    rows = _train(tmp_path / "d", 5)
    assert len(rows) == 1
    summary = json.load(open(tmp_path / "d" / "summary.json"))
    assert "SIGTERM" in summary["status"]
    assert checkpoint.Checkpoints(str(tmp_path / "d")).steps() == [PER_EPOCH]


def test_progress_lines_name_the_eval_protocol():
    """Stochastic eval first, marked as the official FlowRL protocol; one line, bounded width."""
    row = {"eval/return_stochastic": 850.25, "eval/return_deterministic": 861.0,
           "train/episode_return": 800.0}  # fmt: skip
    line = run_dir.progress_line(1_000_000, 12345.6, row, 300.0)
    assert "eval return stochastic  850.2 (official protocol) deterministic  861.0 |" in line
    assert "\n" not in line and len(line) <= 150
    assert "stochastic    nan" in run_dir.progress_line(8, 1.0, {}, 0.0)  # before the first eval
    rows = [row, dict(row, **{"eval/return_stochastic": 1.04})]
    assert runner.seed_returns_line(rows) == (
        "  eval return per seed: stochastic (official protocol) [850.2, 1.0] "
        "deterministic [861.0, 861.0]"
    )
    assert runner.seed_returns_line(rows[:1]) == ""
