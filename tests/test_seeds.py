"""--num_seeds: S seeds in one vmapped program equal S separate runs, with per-seed outputs."""

import json
import os

import jax
import numpy as np
import pytest

import flowrl_mjx
from flowrl_mjx.algorithm import seeds, train
from flowrl_mjx.runtime import checkpoint, mjx_backend, run_dir
from tests.tiny import CFG, LOOP, PER_EPOCH, metrics, train_run
from tests.tiny import env as _env


def _close(a, b, what):
    for ra, rb in zip(a, b, strict=True):
        for k, v in ra.items():
            if k not in ("wall_time", "perf/sps"):
                np.testing.assert_allclose(rb[k], v, rtol=1e-4, atol=1e-5, err_msg=f"{what} {k}")


# ~70 s (2 vmapped seeds, 2 separate runs, a resume); -m slow.
@pytest.mark.slow
def test_seeds_equal_separate_runs_and_resume(tmp_path):
    single = {s: metrics(train_run(tmp_path / f"single{s}", 2, seed=s)) for s in (3, 4)}
    out = train_run(tmp_path / "group", 1, seed=3, num_seeds=2)
    compiled = mjx_backend.programs(CFG, LOOP, _env(), 2)[1]._cache_size()
    train_run(tmp_path / "group", 2, seed=3, num_seeds=2, resume=True)
    assert mjx_backend.programs(CFG, LOOP, _env(), 2)[1]._cache_size() == compiled == 1
    for s in (3, 4):
        member = os.path.join(out, f"seed_{s}")
        rows = metrics(member)
        assert [r["env_steps"] for r in rows] == [PER_EPOCH, 2 * PER_EPOCH]
        _close(single[s], rows, f"seed {s}")
        assert run_dir.load_settings(member)["seed"] == s  # each member is a complete run dir
        assert checkpoint.Checkpoints(member).steps()[-1] == 2 * PER_EPOCH
        act = flowrl_mjx.load_policy(member)
        assert act(np.zeros(_env().observation_size)).shape == (_env().action_size,)
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["status"] == "finished" and sorted(summary["final"]) == ["3", "4"]
    assert run_dir.load_settings(out)["num_seeds"] == 2


def test_stack_member_round_trip_and_shared_counters():
    venv = mjx_backend.programs(CFG, LOOP, _env())[0]
    states = [train.init(jax.random.PRNGKey(s), CFG, LOOP, venv) for s in (0, 1)]
    stacked = seeds.stack(states)
    assert stacked.env_steps.shape == () and stacked.agent.step.shape == ()
    assert stacked.replay.data.obs.shape[0] == 2 and stacked.replay.size.shape == ()
    for i, state in enumerate(states):
        for a, b in zip(jax.tree.leaves(seeds.member(stacked, i)), jax.tree.leaves(state),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="different steps"):
        seeds.stack([states[0], states[1].replace(env_steps=states[1].env_steps + 1)])
