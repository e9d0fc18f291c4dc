"""launch/bench_rows.py (bench_envs): --replace puts re-measured rows in place of the saved ones."""

from launch import bench_rows


def test_merge_replaces_rows_of_the_same_task_and_batch_in_place():
    saved = [
        dict(task="a", batch=1, v=0),
        dict(task="a", batch=64, v=0),
        dict(task="b", batch=1, v=0),
    ]
    new = [
        dict(task="a", batch=64, v=1),
        dict(task="a", batch=1024, v=1),
        dict(task="c", batch=1, v=1),
    ]
    merged = bench_rows.merge(saved, new)
    assert [(r["task"], r["batch"], r["v"]) for r in merged] == [
        ("a", 1, 0),
        ("a", 64, 1),
        ("a", 1024, 1),  # a new batch goes after its task's rows
        ("b", 1, 0),
        ("c", 1, 1),
    ]
    assert saved[1]["v"] == 0  # the saved list is not modified
    assert bench_rows.merge(merged, new) == merged  # measuring again replaces, never duplicates


def test_skip_rule_extrapolates_from_saved_rows():
    """--replace at 4096 alone: a task whose saved 1024-env call took ~70 s is skipped, not run."""
    saved = [dict(batch=1, control_sps=500.0), dict(batch=64, control_sps=15.0),
             dict(batch=1024, skipped="~70 s per call")]  # fmt: skip
    assert bench_rows.per_env_s(saved, 4096) == 1.0 / 15.0
    assert bench_rows.per_env_s(saved, 64) == 1.0 / 500.0
    assert bench_rows.per_env_s(saved, 1) is None
