"""Optional Weights & Biases logging (settings["wandb"], flowrl_mjx/runtime/run_dir.py), in wandb's
offline mode: what RunLog sends is read back from the offline run's own .wandb file (no network, no
training); a resume logs to the stored W&B run id; seeds are grouped runs; without wandb
installed, --wandb_project is one error line."""

import glob
import json
import math
import os
import struct
import subprocess
import sys
import time
import types

import mujoco
import pytest

import flowrl_mjx
from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.train import LoopConfig
from flowrl_mjx.runtime import api, mjx_backend, run_dir
from flowrl_mjx.runtime.run_config import RunConfig, Wandb

WANDB = dict(project="flowrl-test", entity=None, group=None)
RUN = RunConfig(task="cartpole_balance", config=Config(), loop=LoopConfig())
SETTINGS = RUN.replace(wandb=Wandb(**WANDB))  # a W&B run's settings


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """wandb offline, with everything it writes under tmp_path (nothing in ~ or the cwd).
    Returns WANDB_DIR's folder, where the offline runs go (wandb/offline-run-<time>-<id>/)."""
    wandb = pytest.importorskip("wandb")  # in the test extra; a venv from before may lack it
    monkeypatch.setenv("WANDB_MODE", "offline")
    # RunLog sets WANDB_SILENT if unset: restore the variable's absence afterwards
    monkeypatch.setenv("WANDB_SILENT", "")
    monkeypatch.delenv("WANDB_SILENT")
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        folder = tmp_path / var.lower()
        folder.mkdir()
        monkeypatch.setenv(var, str(folder))
    wandb.teardown()  # wandb reads the environment once per process setup: start afresh
    yield tmp_path / "wandb_dir"
    wandb.teardown()


def _records(path) -> list:
    """The protobuf records (wandb's own schema) of a .wandb file. wandb has no Python reader of
    it; the container is LevelDB's log format: a 7-byte file header (':W&B', magic, version),
    then 32 KiB blocks of chunks, each a 7-byte header (crc32, length, type) and its bytes; a
    record is one FULL chunk or FIRST, MIDDLE..., LAST; a block's tail shorter than a header is
    padding."""
    from wandb.proto import wandb_internal_pb2

    block, full, last = 32 * 1024, 1, 4
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B", path
    records, pos, parts = [], 7, b""
    while pos + 7 <= len(data):
        room = block - pos % block
        _, size, kind = struct.unpack("<IHB", data[pos : pos + 7]) if room >= 7 else (0, 0, 0)
        if kind == 0:  # padding to the block's end
            pos += room
            continue
        parts += data[pos + 7 : pos + 7 + size]
        pos += 7 + size
        if kind in (full, last):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            records.append(record)
            parts = b""
    return records


def _offline_runs(wandb_dir, run_id) -> list:
    """The offline runs of W&B run `run_id` under wandb_dir (one per start; a resume in the same
    second gets a '-1' folder), oldest first, decoded by `_decode`."""
    import wandb

    wandb.teardown()  # wandb's service finishes writing the files after finish() returns
    found = glob.glob(os.path.join(wandb_dir, "wandb", f"offline-run-*-{run_id}*"))
    runs = [_decode(os.path.join(d, f"run-{run_id}.wandb")) for d in found]
    return sorted(runs, key=lambda r: r["run"].start_time.ToNanoseconds())


def _offline_run(wandb_dir, run_id) -> dict:
    (run,) = _offline_runs(wandb_dir, run_id)
    return run


def _decode(path) -> dict:
    """An offline run's run record, history {step: {key: value}} (W&B's own _step, _runtime,
    _timestamp left out), summary and exit record."""
    records = _records(path)
    out = dict(run=None, history={}, summary={}, exit=None)
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind == "run":
            out["run"] = r.run
        elif kind == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                     for i in r.history.item}  # fmt: skip
            assert r.history.step.num not in out["history"]
            out["history"][r.history.step.num] = {
                k: v for k, v in items.items() if not k.startswith("_")
            }
        elif kind == "summary":
            for i in r.summary.update:
                out["summary"][i.key or "/".join(i.nested_key)] = json.loads(i.value_json)
        elif kind == "exit":
            out["exit"] = r.exit
    return out


def test_offline_run_gets_finite_scalars_at_env_steps(tmp_path, offline, capfd):
    path = tmp_path / "cartpole_run"
    path.mkdir()
    log = run_dir.RunLog(str(path), SETTINGS, None, resume_steps=0)
    start = time.time() - 1.0
    log.write(100, {"critic_loss": 0.5, "train/episode_return": math.nan}, start, total=200)
    log.write(200, {"critic_loss": 0.25, "train/episode_return": 3.0, "actor_loss": math.inf},
              start, total=200)  # fmt: skip
    log.close("finished")

    run_id = (path / run_dir.WANDB_ID).read_text().strip()
    got = _offline_run(offline, run_id)
    history = got["history"]
    assert sorted(history) == [100, 200]  # step = env_steps
    assert set(history[100]) == {"critic_loss", "wall_time", "perf/sps"}  # no NaN return
    assert set(history[200]) == {"critic_loss", "wall_time", "perf/sps", "train/episode_return"}
    assert history[100]["critic_loss"] == 0.5 and history[200]["critic_loss"] == 0.25
    assert history[200]["train/episode_return"] == 3.0
    assert all(math.isfinite(v) for row in history.values() for v in row.values())
    # the same values as metrics.jsonl's rows
    rows = [json.loads(line) for line in open(path / "metrics.jsonl")]
    assert [history[r["env_steps"]]["perf/sps"] for r in rows] == [r["perf/sps"] for r in rows]

    run = got["run"]
    assert run.run_id == run_id and run.project == "flowrl-test"
    assert run.display_name == "cartpole_run" and run.run_group == ""
    config = {i.key: json.loads(i.value_json) for i in run.config.update}
    assert config["task"] == "cartpole_balance" and config["config"]["lr"] == RUN.config.lr
    assert config["config"]["actor_hidden"] == list(RUN.config.actor_hidden)
    assert "wandb" not in config
    assert got["summary"]["status"] == "finished" and got["exit"].exit_code == 0

    out, err = capfd.readouterr()  # W&B prints nothing itself: our lines only
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(
        f"W&B run cartpole_run ({run_id}): offline; upload it with `wandb sync "
    )
    assert all(line.startswith("steps ") for line in lines[1:])
    assert err == ""


def test_resume_logs_to_the_stored_wandb_run(tmp_path, offline):
    path = tmp_path / "run"
    path.mkdir()
    env = types.SimpleNamespace(mj_model=mujoco.MjModel.from_xml_string("<mujoco/>"))
    log = run_dir.RunLog(str(path), SETTINGS, env)  # a new run: config.json, wandb_id
    log.write(100, {"critic_loss": 0.5}, time.time(), total=200, echo=False)
    log.close("interrupted by SIGINT; checkpoint saved, continue with --resume")
    run_id = (path / run_dir.WANDB_ID).read_text().strip()
    log = run_dir.RunLog(str(path), SETTINGS, None, resume_steps=100)
    log.write(200, {"critic_loss": 0.25}, time.time(), total=200, echo=False)
    log.close("finished")
    assert (path / run_dir.WANDB_ID).read_text().strip() == run_id

    first, resumed = _offline_runs(offline, run_id)
    assert sorted(first["history"]) == [100] and sorted(resumed["history"]) == [200]
    assert first["exit"].exit_code == 1 and first["summary"]["status"].startswith("interrupted")
    assert resumed["run"].run_id == run_id and resumed["summary"]["status"] == "finished"
    # a run from zero in its folder (logs start empty) is a new W&B run
    log = run_dir.RunLog(str(path), SETTINGS, env)
    log.close("finished")
    assert (path / run_dir.WANDB_ID).read_text().strip() != run_id


def test_seeds_are_grouped_wandb_runs(tmp_path, offline):
    """runner's per-seed settings: one W&B run per seed folder, all open at once, grouped under
    the run dir's name (or --wandb_group)."""
    out = tmp_path / "cartpole_2seeds"
    run = RunConfig(task="cartpole_balance", config=Config(), loop=LoopConfig(), seed=3,
                    num_seeds=2, wandb=Wandb(**WANDB))  # fmt: skip
    dirs = mjx_backend.member_dirs(str(out), run.seed, run.num_seeds)
    for d in dirs:
        os.makedirs(d)
    logs = [run_dir.RunLog(d, r, None, resume_steps=0)
            for d, r in zip(dirs, mjx_backend.member_runs(run, str(out)), strict=True)]  # fmt: skip
    for i, log in enumerate(logs):
        log.write(100, {"critic_loss": float(i)}, time.time(), total=100, echo=False)
    for log in logs:
        log.close("finished")
    for i, d in enumerate(dirs):
        got = _offline_run(offline, open(os.path.join(d, run_dir.WANDB_ID)).read().strip())
        assert got["run"].run_group == "cartpole_2seeds"
        assert got["run"].display_name == f"seed_{3 + i}"
        assert got["history"][100]["critic_loss"] == float(i)
        assert json.loads({c.key: c.value_json for c in got["run"].config.update}["seed"]) == 3 + i
    options = Wandb(**WANDB)
    assert run_dir.wandb_member(Wandb(project="p", group="g"), str(out), 2).group == "g"
    assert run_dir.wandb_member(options, str(out), 1) is options


def test_wandb_options_and_missing_wandb_are_one_line_errors(tmp_path, monkeypatch):
    cases = [
        (dict(entity="me"), False, "need --wandb_project"),
        (dict(project=""), False, "--wandb_project takes a name"),
        (dict(project="p"), True, "resume keeps the run's W&B settings (off)"),
    ]
    for kwargs, resume, needle in cases:
        with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            api.wandb_options(RUN, resume, **kwargs)
    stored = RUN.replace(wandb=Wandb(**WANDB))
    assert api.wandb_options(stored, True, "flowrl-test") == stored  # the stored options again

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    with pytest.raises(ValueError) as err:
        flowrl_mjx.run("cartpole_balance", num_envs=2, total_env_steps=100,
                       run_dir=tmp_path / "api", wandb_project="p")  # fmt: skip
    assert str(err.value) == run_dir.WANDB_MISSING
    assert run_dir.WANDB_MISSING == "--wandb_project needs `pip install -e .[wandb]`"
    assert not (tmp_path / "api").exists()  # refused before the run dir (or any compile)
    with pytest.raises(ValueError, match="pip install"):  # a resumed run's stored settings
        run_dir.RunLog(str(tmp_path), SETTINGS, None, resume_steps=0)

    # the CLI, in a fresh process (absl flags are global): one `error:` line, exit code 2
    code = ("import sys; sys.modules['wandb'] = None\n"
            "from flowrl_mjx.launch import run_main\nrun_main()\n")  # fmt: skip
    args = ["--task", "cartpole_balance", "--num_envs", "2", "--total_env_steps", "100",
            "--run_dir", str(tmp_path / "cli"), "--wandb_project", "p"]  # fmt: skip
    env = dict(os.environ, JAX_PLATFORMS="cpu", MUJOCO_GL="disable")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {run_dir.WANDB_MISSING}"] and done.stdout == ""
    assert not (tmp_path / "cli").exists()
