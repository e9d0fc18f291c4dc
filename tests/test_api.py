"""The Python API (flowrl_mjx.runtime.api): the example notebook run end to end at tests/tiny.py's
size, one-line ValueErrors, and the same config.json as the CLI for the same settings."""

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import envs
import flowrl_mjx
from flowrl_mjx.runtime.run_config import RunConfig
from tests import tiny

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.ipynb")
# tests/tiny.py's Config and LoopConfig as train() keywords; num_envs is the notebook's NUM_ENVS.
# updates_per_iter too: the cpu preset (the default at 2 envs) would derive K = 16 from batch 8;
# and the per-update settings the cpu preset fixes (lr, target_rate, n_step, lam): tiny's are the
# official ones, so the notebook compiles the programs the other tiny tests compile.
_CFG_KEYS = ("actor_hidden", "critic_hidden", "value_hidden", "batch_size", "replay_size",
             "recent_window", "warmup_steps", "updates_per_iter", "lr", "target_rate", "n_step",
             "lam")  # fmt: skip
_LOOP_KEYS = ("iters_per_epoch", "iters_per_call", "num_eval_envs")
TINY = {
    **{k: getattr(tiny.CFG, k) for k in _CFG_KEYS},
    **{k: getattr(tiny.LOOP, k) for k in _LOOP_KEYS},
}
EPOCHS = 3
# eval_every 2: the first row has no eval (the table and plot must cope), the last always has one
PARAMS = dict(NUM_ENVS=tiny.LOOP.num_envs, TOTAL_ENV_STEPS=EPOCHS * tiny.PER_EPOCH,
              EXTRA=dict(TINY, eval_every=2))  # fmt: skip


def _code_cells(path) -> list:
    with open(path) as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4
    return [(c.get("metadata", {}).get("tags", []), "".join(c["source"]))
            for c in nb["cells"] if c["cell_type"] == "code"]  # fmt: skip


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """The notebook's code cells run in order in one namespace, as a kernel would, with the
    parameters cell's values replaced by the tiny budget after it runs. matplotlib is in the
    test extra; Agg draws without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = {"__name__": "__main__"}
    run_dir = str(tmp_path_factory.mktemp("nb") / "quickstart")
    load = envs.load

    def tiny_env(name, **overrides):
        """tests/tiny.py's cartpole (20-step episodes): the training and evaluation programs
        are then the ones the other tiny tests compile (the default suite pays for them once)."""
        return tiny.env() if name == tiny.TASK and not overrides else load(name, **overrides)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(envs, "load", tiny_env)
        for tags, source in _code_cells(NOTEBOOK):
            exec(compile(source, NOTEBOOK, "exec"), ns)
            if "parameters" in tags:
                assert ns["TASK"] == "cartpole_balance"
                ns.update(PARAMS, RUN_DIR=run_dir)
    plt.close("all")
    return ns


def test_notebook_trains_loads_and_acts(notebook):
    result, run = notebook["result"], notebook["run"]
    assert result.finished and result.status == "finished"
    assert result.config == tiny.CFG and result.loop == tiny.LOOP
    assert result.run_dir == notebook["RUN_DIR"]  # a new folder is used as given
    per_epoch = tiny.PER_EPOCH
    assert [r["env_steps"] for r in run.metrics] == [per_epoch * (i + 1) for i in range(EPOCHS)]
    np.testing.assert_array_equal(run.column("env_steps"), [r["env_steps"] for r in run.metrics])
    stochastic = run.column("eval/return_stochastic")
    assert np.isnan(stochastic[0]) and np.all(np.isfinite(stochastic[1:]))  # eval_every 2
    assert run.status == "finished" and run.final["env_steps"] == EPOCHS * per_epoch
    assert result.final == run.final
    assert run.settings["task"] == "cartpole_balance" and run.seeds == (0,)
    assert math.isfinite(notebook["episode_return"])


def test_resume_refuses_settings_it_would_ignore(notebook):
    """A resume trains with the stored settings: asking for others is an error, not ignored."""
    path = notebook["result"].run_dir
    with pytest.raises(ValueError, match="drop lr"):
        flowrl_mjx.run("cartpole_balance", run_dir=path, resume=True, lr=1e-3)
    with pytest.raises(ValueError, match="holds a cartpole_balance run"):
        flowrl_mjx.run("cheetah_run", run_dir=path, resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        flowrl_mjx.run("cartpole_balance", run_dir=path, num_envs=2, **TINY)


def test_bad_input_raises_one_line_value_error(tmp_path):
    not_ours = tmp_path / "photos"
    not_ours.mkdir()
    (not_ours / "a.jpg").write_text("not a run")
    cases = [
        (dict(task="cheetah_rn"), "did you mean: cheetah_run"),
        (dict(lrr=1e-3), "unknown setting(s) lrr (did you mean: lr?)"),
        (dict(lr="fast"), "lr takes a float"),
        (dict(batch_size=0), "batch_size"),
        (dict(num_envs=0), "num_envs"),
        (dict(num_seeds=2, backend="dm_control"), "--backend mjx"),
        (dict(backend="jax"), "mjx|dm_control"),
        (dict(eval_every=0), "eval_every must be positive"),
        (dict(iters_per_epoch=4, iters_per_call=3), "must be 0 (auto) or divide"),
        (dict(replay_size=100_000_000_000, recent_fraction=0.0), "GiB"),
        (dict(run_dir=str(not_ours)), "holds no run"),
        (dict(resume=True), "resume=True needs run_dir"),
    ]
    for kwargs, needle in cases:
        kwargs = dict(kwargs)
        task = kwargs.pop("task", "cartpole_balance")
        with pytest.raises(ValueError) as err:
            flowrl_mjx.run(task, **kwargs)
        message = str(err.value)
        assert "\n" not in message and needle in message, (kwargs, message)
    assert os.listdir(not_ours) == ["a.jpg"]  # nothing written into someone's folder
    with pytest.raises(ValueError, match="holds no run"):
        flowrl_mjx.load_run(not_ours)


def test_train_and_cli_write_the_same_config(notebook):
    """launch.resolve (the CLI's flags) gives the config.json of api.train for the same settings.
    In a fresh process: absl flags are global, and other tests' launch scripts define --task."""
    args = ["--task", "cartpole_balance", "--num_envs", str(tiny.LOOP.num_envs),
            "--total_env_steps", str(PARAMS["TOTAL_ENV_STEPS"])]  # fmt: skip
    for k, v in TINY.items():
        args += [f"--{k}", ",".join(map(str, v)) if isinstance(v, tuple) else str(v)]
    code = (
        "import dataclasses, json, sys\n"
        "from flowrl_mjx.runtime import api, cli\n"
        "cli.FLAGS(['launch', *sys.argv[1:]])\n"
        "cfg, loop, preset = cli.resolve()\n"
        "r = api.new_run(cli.FLAGS.task, cli.FLAGS.seed, preset, cli.FLAGS.backend,\n"
        "                cli.FLAGS.num_seeds, cli.FLAGS.num_devices, cfg, loop)\n"
        "print('SETTINGS ' + json.dumps(r.to_json()))\n"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu", MUJOCO_GL="disable")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("SETTINGS "))
    cli = json.loads(line[len("SETTINGS ") :])
    stored = flowrl_mjx.load_run(notebook["result"].run_dir).settings
    for key in ("task", "seed", "preset", "backend", "num_seeds", "num_devices", "config", "loop"):
        assert cli[key] == stored[key], key
    # and both are what the API's Config/LoopConfig are
    assert stored["config"] == json.loads(json.dumps(dataclasses.asdict(tiny.CFG)))
    run = RunConfig.from_json(stored)
    assert (run.config, run.loop) == (tiny.CFG, tiny.LOOP)
