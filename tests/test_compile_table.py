"""launch/compile_table.py: the table of both programs and the worker's time limit (nothing is
compiled here)."""

import time

from launch import compile_table as ct

INFO = dict(date="d", device="cpu", platform="cpu", cpu_cores=2, command="python -m x")


def _row(program, **kw):
    return dict(task="dog_run", num_envs=1024, program=program, command="python -m x", **kw)


def test_table_has_one_line_per_task_with_both_programs():
    rows = [
        _row("env_step", status="ok", lower_s=39.0, compile_s=186.2, no_fusion_emitters=True),
        _row("epoch", status="timed_out", phase="compile", elapsed_s=900.4),
        dict(_row("env_step", status="ok", lower_s=1.0, compile_s=9.3), task="walker_run"),
        dict(_row("epoch", status="failed", phase="lower", error="MemoryError"), task="walker_run"),
    ]
    text = ct.markdown(INFO, rows, max_s=900)
    assert "| dog_run | 1,024 | 39.0 | 186.2† | - | > 900 (timed out) | - |" in text
    assert "epoch: timed_out in compile" in text
    assert (
        "| walker_run | 1,024 | 1.0 | 9.3 | - | - | - | epoch: failed in lower (MemoryError) |"
        in (text)
    )
    assert "Rows by command" not in text  # one command made every row


def test_a_program_over_the_limit_is_killed_and_recorded():
    """The worker cannot import jax in 0.3 s: the row says timed_out, before any phase."""
    t0 = time.perf_counter()
    row = ct.run_job(dict(task="cartpole_balance", num_envs=1, program="env_step"), max_s=0.3)
    assert time.perf_counter() - t0 < 30
    assert row["status"] == "timed_out" and row["phase"] == "start" and row["elapsed_s"] >= 0.3
