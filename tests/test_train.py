"""The fused epoch: runs, is traced once, has no host callback, and learns nothing from NaNs."""

import subprocess
import sys
from dataclasses import dataclass, fields

import jax
import numpy as np

from flowrl_mjx.algorithm import presets, train
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.runtime import flag_help
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


def test_bad_input_fails_fast_with_exit_code_2_and_help_exits_0(tmp_path):
    not_ours = tmp_path / "photos"  # a mistyped --run_dir: someone's folder
    not_ours.mkdir()
    (not_ours / "a.jpg").write_text("not a run")
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
        # malformed flags: absl alone prints two lines and exits 1
        (["--num_envs", "abc"], "--num_envs=abc"),
        (["--foo"], "Unknown command line flag 'foo'"),
        (["--backend", "jax"], "mjx|dm_control"),
        (["--actor_hidden", "64,x"], "comma-separated integers"),
        (["cheetah_run"], "unexpected argument(s) cheetah_run"),
        (["--eval_every", "0"], "eval_every must be positive"),
        (["--iters_per_epoch", "4", "--iters_per_call", "3"], "must be 0 (auto) or divide"),
        (["--run_dir", str(not_ours)], "holds no run"),
    ]
    helps = [["--help"], ["--helpfull"]]
    (tmp_path / "f").write_text("a file, not a folder")
    # All at once: each process spends its ~5 s importing jax, mujoco and dm_control.
    cmd = [sys.executable, "-m", "flowrl_mjx.launch"]
    procs = [subprocess.Popen(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for args in [c[0] for c in cases] + helps]  # fmt: skip
    for (args, needle), proc in zip(cases, procs[: len(cases)], strict=True):
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 2, (args, stderr[-500:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, lines)
        if needle:
            assert needle in lines[0], (needle, lines[0])
    for args, proc in zip(helps, procs[len(cases) :], strict=True):
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, (args, stderr[-500:])
    _check_helpfull(stdout)


def _check_helpfull(text):
    """Every Config/LoopConfig flag's help is its doc comment plus its value in each preset."""
    squeeze = lambda t: "".join(t.split())  # absl wraps help lines (at spaces and hyphens)
    shown = squeeze(text)
    helps = flag_help.helps((Config, train.LoopConfig))
    assert set(helps) == {f.name for c in (Config, train.LoopConfig) for f in fields(c)}
    for name, help_text in helps.items():
        assert (
            squeeze(f"--{name}: {help_text}") in shown
            or squeeze(f"--[no]{name}: {help_text}") in shown
        ), name
    # the format, e.g. "(static) Transitions per gradient update. (paper: 256, cpu: 128, ...)",
    # with the values read here from the presets (they change as presets are tuned)
    built = {name: presets.build(name) for name in presets.PRESETS}
    docs = {**flag_help.field_docs(Config), **flag_help.field_docs(train.LoopConfig)}
    batch = ", ".join(f"{p}: {cfg.batch_size}" for p, (cfg, _) in built.items())
    assert helps["batch_size"] == f"{docs['batch_size']} ({batch})"
    envs_ = ", ".join(f"{p}: {loop.num_envs}" for p, (_, loop) in built.items())
    assert helps["num_envs"] == f"{docs['num_envs']} ({envs_})"  # a comment beside the field
    widths = ", ".join(f"{p}: {','.join(map(str, c.actor_hidden))}" for p, (c, _) in built.items())
    assert helps["actor_hidden"].endswith(f"({widths})")


@dataclass(frozen=True)
class _Documented:
    """A class docstring is not a field's doc."""

    # The first line,
    # and the second.
    a: int = 1
    b: str = "# not a comment"  # beside the field
    c: tuple = (1, 2)  # fmt: skip

    # after a blank line
    d: float = 0.5


def test_field_docs_read_comments_above_and_beside():
    assert flag_help.field_docs(_Documented) == {
        "a": "The first line, and the second.",
        "b": "beside the field",
        "c": "",
        "d": "after a blank line",
    }
    assert all(flag_help.field_docs(Config).values())  # every agent setting is explained
    assert all(flag_help.field_docs(train.LoopConfig).values())
