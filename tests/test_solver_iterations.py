"""launch/solver_iterations.py: the model's own cap is the reference row, every requested cap
gets a row (its bad input: tests/test_cli_flags.py::test_module_entry_points_exit_codes)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow  # a benchmark script's run (~26 s)
def test_reference_row_then_one_row_per_cap(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "launch.solver_iterations", "--task", "walker_walk",
         "--num_envs", "2", "--warm_steps", "2", "--caps", "1", "--seconds", "0.1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.load(open(tmp_path / "solver_iterations_walker_walk.json"))
    own, capped = doc["rows"]
    assert own["cap"] == int(doc["model_solver"].split("iterations ")[1].split(",")[0])
    assert own["dqacc_max"] == 0.0 and own["run_ms"] > 0
    assert capped["cap"] == 1 and capped["dqacc_max"] >= 0.0
    assert (tmp_path / "solver_iterations_walker_walk.md").exists()
