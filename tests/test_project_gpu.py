"""The GPU projection's cost model (launch/project_gpu.py): roofline and iteration arithmetic."""

import pytest

from launch.project_gpu import H100_SXM, iteration, project, roofline


def test_roofline_takes_the_slower_of_compute_and_memory():
    # 3e12 flops at 10e12 x 0.3 = 1 s; 1e12 bytes at 4e12 x 0.5 = 0.5 s: compute-bound.
    t = roofline(3e12, 1e12, peak_flops=10e12, peak_bytes_per_s=4e12, flops_eff=0.3, bw_eff=0.5)
    assert t["compute_s"] == pytest.approx(1.0) and t["memory_s"] == pytest.approx(0.5)
    assert t["seconds"] == pytest.approx(1.0) and t["bound"] == "compute"
    t = roofline(3e12, 4e12, 10e12, 4e12, 0.3, 0.5)
    assert t["seconds"] == pytest.approx(2.0) and t["bound"] == "memory"


def test_iteration_runs_env_act_and_k_updates_in_sequence():
    it = iteration(env_s=0.002, act_s=0.001, update_s=0.001, num_envs=1000, k=7,
                   target_env_steps=1_000_000)  # fmt: skip
    assert it["iteration_s"] == pytest.approx(0.010)
    assert it["env_steps_per_s"] == pytest.approx(100_000)
    assert it["updates_per_s"] == pytest.approx(700)
    assert it["seconds_to_target"] == pytest.approx(10.0)  # 1000 iterations of 10 ms


def test_project_uses_fp32_for_physics_and_tf32_for_networks():
    programs = {
        name: {"flops": 1e12, "bytes": 0.0} for name in ("env_step", "policy_act", "update")
    }
    recipe = dict(num_envs=100, updates_per_iter=2, target_env_steps=1000, flops_efficiency=1.0,
                  bandwidth_efficiency=1.0)  # fmt: skip
    out = project(programs, recipe, published_env_s=0.5)
    env_s, net_s = 1e12 / H100_SXM["fp32_flops"], 1e12 / H100_SXM["tf32_flops"]
    assert out["programs"]["env_step"]["seconds"] == pytest.approx(env_s)
    assert out["programs"]["update"]["seconds"] == pytest.approx(net_s)
    assert out["cost_model"]["iteration_s"] == pytest.approx(env_s + 3 * net_s)
    assert out["published_env_rate"]["iteration_s"] == pytest.approx(0.5 + 3 * net_s)
    assert out["compute_floor"]["iteration_s"] == pytest.approx(env_s + 3 * net_s)
