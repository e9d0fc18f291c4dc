"""Host loop: exact resume, corrupt-checkpoint fallback, clean stop on SIGTERM, load_policy,
the run dir's protection, the progress line and TensorBoard's scalars."""

import collections
import dataclasses
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import flowrl_mjx
from envs import dmc
from flowrl_mjx.algorithm import train
from flowrl_mjx.runtime import checkpoint, mjx_backend, run_dir, runner
from tests import tiny
from tests.tiny import CFG, LOOP, PER_EPOCH, metrics, programs, train_run
from tests.tiny import env as _env


def _train(path, epochs, resume=False):
    return metrics(train_run(path, epochs, resume=resume))


def _strip(row):
    return {k: v for k, v in row.items() if k not in ("wall_time", "perf/sps")}


def test_resume_continues_exactly(tmp_path, capsys):
    straight = _train(tmp_path / "a", 3)
    _train(tmp_path / "b", 2)
    compiled = programs()[1]._cache_size()
    capsys.readouterr()
    resumed = _train(tmp_path / "b", 3, resume=True)
    printed = capsys.readouterr().out
    assert f"resumed {tmp_path / 'b'} from its checkpoint at env step {2 * PER_EPOCH:,} " in printed
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
    venv, _, _ = mjx_backend.programs(CFG, LOOP, env)
    import jax

    abstract = jax.eval_shape(lambda k: train.init(k, CFG, LOOP, venv), jax.random.PRNGKey(0))
    state, meta = ckpt.restore_latest(abstract)
    assert meta["epoch"] == 1 and int(state.env_steps) == PER_EPOCH
    for root, _, files in os.walk(tmp_path / "c" / "checkpoints" / str(steps[0])):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(3)
    with pytest.raises(checkpoint.ResumeError, match="no readable checkpoint"):
        tiny.run(tmp_path / "c", 3, resume=True)
    resume = [sys.executable, "-m", "flowrl_mjx.launch", "--resume", "--run_dir", tmp_path / "c"]
    cli = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 2 and cli.stderr.strip().startswith("error: --resume: no readable")
    assert len(cli.stderr.strip().splitlines()) == 1, cli.stderr


def test_sigterm_saves_and_stops(tmp_path, monkeypatch):
    original = run_dir.RunLog.write

    def write_then_signal(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(run_dir.RunLog, "write", write_then_signal)
    out, status = tiny.run(tmp_path / "d", 5)  # returns: Python callers keep control
    assert len(metrics(out)) == 1
    summary = json.load(open(tmp_path / "d" / "summary.json"))
    assert summary["status"] == status and status.startswith("interrupted by SIGTERM")
    assert runner.exit_code(status) == 143  # what launch exits with
    assert checkpoint.Checkpoints(str(tmp_path / "d")).steps() == [PER_EPOCH]


def test_calls_of_one_iteration_log_what_one_call_per_epoch_logs(tmp_path, capsys, monkeypatch):
    """The CPU default runs one iteration per jitted call (so that a stop waits for one
    iteration, not an epoch); its log rows match the one-call-per-epoch program's. A long first
    epoch prints one early progress line from the timed calls (here due at once)."""
    assert (
        mjx_backend.call_loop(tiny.LOOP_CALLS).iters_per_epoch == 1
    )  # CPU: one iteration per call
    whole = metrics(tiny.run(tmp_path / "w", 2)[0])
    capsys.readouterr()
    split = metrics(tiny.run(tmp_path / "s", 2, loop=tiny.LOOP_CALLS)[0])
    printed = capsys.readouterr().out
    assert "the training program: 1 iteration(s) of 2 envs per call, 4 call(s)" in printed
    assert "compiled: the env reset and the first call took" in printed
    # An 8-call epoch (same compiled call): warm-up ends at call 4 (8 env steps), the pace is
    # timed from there, and the early line comes at the next call.
    monkeypatch.setattr(runner._Pace, "EARLY_S", 0.0)
    tiny.run(tmp_path / "e", 2, loop=dataclasses.replace(tiny.LOOP_CALLS, iters_per_epoch=8))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("steps ")]
    assert lines[0].startswith("steps         10 |") and "updates/s" in lines[0], lines
    assert lines[1].startswith("steps         16 |")
    assert [r["env_steps"] for r in split] == [r["env_steps"] for r in whole]
    for a, b in zip(whole, split, strict=True):
        assert _strip(a).keys() == _strip(b).keys()
        for k, v in _strip(a).items():
            assert math.isclose(v, b[k], rel_tol=1e-4, abs_tol=1e-5) or (
                math.isnan(v) and math.isnan(b[k])
            ), (k, v, b[k])


def test_stop_inside_an_epoch_saves_there_and_resume_completes_it(tmp_path, monkeypatch):
    """SIGTERM after the 6th call (the 2nd of epoch 2): a checkpoint at that env step holding the
    epoch's calls so far; --resume logs exactly what the uninterrupted run logs."""
    straight = metrics(tiny.run(tmp_path / "a", 3, loop=tiny.LOOP_CALLS)[0])
    build = mjx_backend._programs

    def signalling(*args):
        venv, step, evaluate = build(*args)
        calls = []

        def counted(ts):
            calls.append(1)
            if len(calls) == 6:
                os.kill(os.getpid(), signal.SIGTERM)
            return step(ts)

        return venv, counted, evaluate

    monkeypatch.setattr(mjx_backend, "_programs", signalling)
    out, status = tiny.run(tmp_path / "b", 3, loop=tiny.LOOP_CALLS)
    monkeypatch.setattr(mjx_backend, "_programs", build)
    assert status.startswith("interrupted by SIGTERM") and len(metrics(out)) == 1
    assert checkpoint.Checkpoints(out).steps() == [PER_EPOCH, PER_EPOCH + 2 * tiny.LOOP.num_envs]
    resumed = metrics(tiny.run(tmp_path / "b", 3, resume=True, loop=tiny.LOOP_CALLS)[0])
    assert [_strip(r) for r in resumed] == [_strip(r) for r in straight]


def test_the_pace_leaves_out_a_skipped_span(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(time=lambda: clock[0]))
    pace = runner._Pace()
    pace.skip(5.0)  # before the clock starts: nothing to leave out
    pace.start(1000, 10.0)
    clock[0] = 101.0  # 1 s of calls, then a 30 s first evaluation (its compile)
    pace.skip(30.0)
    clock[0] = 132.0  # 1 s more of calls
    assert pace.rates(1200, 30.0) == (100.0, 10.0)


def test_a_long_cpu_run_names_the_cpu_sized_command():
    line = runner.long_run_line("cheetah_run", "gpu", 5 * 3600.0, "cpu")
    assert line.startswith("note: at this pace the run needs ~5.0 h more on this CPU")
    assert line.endswith("python -m flowrl_mjx.launch --task cheetah_run --preset cpu")
    assert runner.long_run_line("cheetah_run", "gpu", 5 * 3600.0, "gpu") == ""
    assert runner.long_run_line("cheetah_run", "gpu", 3600.0, "cpu") == ""
    assert runner.long_run_line("cheetah_run", "cpu", 5 * 3600.0, "cpu") == ""


def test_exit_codes_of_statuses():
    assert runner.exit_code("finished") == 0
    assert (
        runner.exit_code("interrupted by SIGINT; checkpoint saved, continue with --resume") == 130
    )
    assert runner.exit_code("interrupted by SIGTERM; checkpoint saved") == 143
    assert runner.exit_code("stopped: non-finite critic_loss at epoch 3") == 1


def test_resume_before_the_first_checkpoint_starts_from_zero(tmp_path, capsys):
    out = train_run(tmp_path / "k", 1)
    # as if killed before its first checkpoint: config.json, a log row and TensorBoard events
    shutil.rmtree(os.path.join(out, "checkpoints"))
    for name in ("policy.msgpack", "summary.json"):
        os.remove(os.path.join(out, name))
    capsys.readouterr()
    train_run(tmp_path / "k", 2, resume=True)
    printed = capsys.readouterr().out
    assert run_dir.restart_line(out) in printed and "resumed" not in printed
    assert [r["env_steps"] for r in metrics(out)] == [PER_EPOCH, 2 * PER_EPOCH]  # no stale row
    assert len(glob.glob(os.path.join(out, "events.out.tfevents.*"))) == 1
    assert checkpoint.Checkpoints(out).steps()[-1] == 2 * PER_EPOCH


def test_run_dir_refuses_folders_that_are_not_ours(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("someone's data")
    for resume in (False, True):
        with pytest.raises(ValueError, match="holds no run"):
            run_dir.prepare(str(theirs), "t", 0, resume)
    (theirs / "config.json").write_text('{"name": "another tool"}')  # not a config.json of ours
    with pytest.raises(ValueError, match="holds no run"):
        run_dir.prepare(str(theirs), "t", 0, False)
    (tmp_path / "empty").mkdir()
    assert run_dir.prepare(str(tmp_path / "empty"), "t", 0, False) == str(tmp_path / "empty")
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "config.json").write_text(json.dumps({"task": "t", "config": {}}))
    with pytest.raises(ValueError, match="already holds a run"):
        run_dir.prepare(str(ours), "t", 0, False)
    assert run_dir.prepare(str(ours), "t", 0, True) == str(ours)
    (ours / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="pass one"):
        run_dir.prepare(str(ours), "t", 0, True, overwrite=True)
    assert run_dir.prepare(str(ours), "t", 0, False, overwrite=True) == str(ours)
    assert os.listdir(ours) == []  # the old run is gone: a fresh run starts there
    with pytest.raises(ValueError, match="holds no run"):  # --overwrite never deletes theirs
        run_dir.prepare(str(theirs), "t", 0, False, overwrite=True)
    assert (theirs / "notes.txt").exists()


def test_load_policy_acts_on_dm_control_observation_dicts(tmp_path):
    act = flowrl_mjx.load_policy(train_run(tmp_path / "p", 1))
    env = dmc.load("cartpole", "balance", 0)
    timestep = env.reset()
    for _ in range(3):
        obs = timestep.observation
        assert isinstance(obs, collections.OrderedDict) and list(obs) == ["position", "velocity"]
        action = act(obs)
        flat = np.concatenate([obs["position"], obs["velocity"]])  # dm_control's key order
        np.testing.assert_array_equal(action, act(flat))
        assert action.shape == env.action_spec().shape
        timestep = env.step(action)
    with pytest.raises(ValueError, match="size"):
        act({"position": np.zeros(3)})


def test_progress_lines_name_the_eval_protocol():
    """Stochastic eval first, marked as the official FlowRL protocol; one line, bounded width."""
    row = {"eval/return_stochastic": 850.25, "eval/return_deterministic": 861.0,
           "train/episode_return": 800.0}  # fmt: skip
    line = run_dir.progress_line(1_000_000, 12345.6, row, 300.0)
    assert "eval return stochastic  850.2 (official protocol) deterministic  861.0 |" in line
    assert "\n" not in line and len(line) <= 150
    timed = run_dir.progress_line(1_000_000, 12345.6, row, 300.0, ups=250.5)
    assert "12346 steps/s |  250.5 updates/s | eval return" in timed and len(timed) <= 170
    first = run_dir.progress_line(8, 1.0, {"train/episode_return": float("nan")}, 0.0)
    assert "stochastic      - (official protocol) deterministic      - | train return      - |" in (
        first  # no eval yet, no finished episode yet
    )
    assert "nan" not in first
    diverged = run_dir.progress_line(8, 1.0, dict(row, **{"eval/return_stochastic": math.nan}), 0)
    assert "stochastic    nan" in diverged  # an eval's NaN stays visible
    assert "ETA    0.0 min" in run_dir.progress_line(16, 1.0, row, -8.0)  # past the budget
    rows = [row, dict(row, **{"eval/return_stochastic": 1.04})]
    assert runner.seed_returns_line(rows) == (
        "  eval return per seed: stochastic (official protocol) [850.2, 1.0] "
        "deterministic [861.0, 861.0]"
    )
    assert runner.seed_returns_line(rows[:1]) == ""
    # A multi-seed run's line shows the mean over its seeds, and says so.
    rows[1]["train/episode_return"] = float("nan")  # that seed has not finished an episode
    shown = run_dir.seed_means(rows)
    assert shown.seeds == 2 and shown.metrics["train/episode_return"] == 800.0
    mean = run_dir.progress_line(1_000_000, 12345.6, shown.metrics, 300.0, 250.5, shown.seeds)
    assert "eval return (mean of 2 seeds) stochastic  425.6 (official protocol)" in mean
    assert "deterministic  861.0 | train return  800.0 |" in mean and len(mean) <= 190
    rows[0]["eval/return_stochastic"] = math.nan  # one diverged seed stays visible in the mean
    assert math.isnan(run_dir.seed_means(rows).metrics["eval/return_stochastic"])


def test_tensorboard_gets_only_finite_scalars(tmp_path, capsys):
    class Recorder:
        def __init__(self):
            self.points = []

        def add_scalar(self, key, value, step):
            self.points.append((key, value, step))

        def flush(self):
            pass

        def close(self):
            pass

    log = run_dir.RunLog(str(tmp_path), tiny.run_config(1), None, resume_steps=0)
    if log._tb is not None:
        log._tb.close()  # the real writer, replaced by one that records what it is given
    log._tb = Recorder()
    row = {"critic_loss": 0.5, "train/episode_return": math.nan, "actor_loss": math.inf}
    log.write(PER_EPOCH, row, time.time() - 1.0, total=4)  # total below env_steps: ETA clamps
    keys = {k for k, _, _ in log._tb.points}
    assert keys == {"critic_loss", "wall_time", "perf/sps"}
    assert all(math.isfinite(v) and s == PER_EPOCH for _, v, s in log._tb.points)
    line = capsys.readouterr().out
    assert "train return      - | ETA    0.0 min" in line
    log.close("finished")
    assert json.loads(open(tmp_path / "metrics.jsonl").readline())["critic_loss"] == 0.5
