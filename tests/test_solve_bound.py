"""launch/solve_bound.py's arithmetic: the Hessian's flop count and the bounds it gives."""

import pytest

from launch import solve_bound


def test_bound_counts_hessians_per_control_step_and_converts_rates():
    shape = {"nefc": 1000, "nv": 80, "substeps": 3}
    b = solve_bound.bound(shape, n=64, iterations=10, hessian_s=0.02, peak_gflops=100.0)
    assert b["flops_per_hessian"] == 2 * 1000 * 80**2
    assert b["hessians_per_control_step"] == 30
    assert b["mflop_per_control_step"] == pytest.approx(30 * 12.8)
    # 64 envs' Hessians in 20 ms: 64 * 12.8 MFLOP / 0.02 s
    assert b["hessian_gflops"] == pytest.approx(64 * 12.8e6 / 0.02 / 1e9)
    # 30 Hessian calls of 20 ms per control step of 64 envs
    assert b["max_control_steps_per_s_measured"] == pytest.approx(64 / (30 * 0.02))
    assert b["max_control_steps_per_s_matmul_rate"] == pytest.approx(100e9 / (30 * 12.8e6))


def test_markdown_names_the_target_and_both_bounds():
    shape = {"nefc": 10, "nv": 4, "substeps": 2}
    doc = {
        "machine_info": {
            "date": "d",
            "device": "cpu",
            "platform": "cpu",
            "cpu_cores": 2,
            "command": "c",
        },
        "task": "t",
        "num_envs": 2,
        "iterations": 3,
        "matmul_size": 8,
        "target": 450.0,
        "shape": shape,
        "bound": solve_bound.bound(shape, 2, 3, 1e-3, 10.0),
    }
    text = solve_bound.to_markdown(doc)
    assert "| target | 450 |" in text and "nefc 10" in text
