"""launch/compile_profile.py: HLO text statistics, the tables and summary, the worker's time limit.

Cheap parts only (no env is built or compiled)."""

import json
import os
import time

import jax
import jax.numpy as jnp
import pytest

from launch import compile_profile as cp


def _tiny(x):
    y = jax.lax.fori_loop(0, 3, lambda i, a: jnp.sin(a) * 2 + a, x)
    return jnp.sum(y * y) + jnp.max(x)


def test_hlo_stats_of_a_tiny_jitted_function():
    lowered = jax.jit(jax.vmap(_tiny)).lower(jnp.ones((2, 5)))
    low = cp.stablehlo_stats(lowered.as_text())
    assert low["stablehlo_chars"] == len(lowered.as_text())
    # at least the while, sin, multiply, add, reduce ops; far fewer than the text's lines
    assert 5 <= low["stablehlo_ops"] < len(lowered.as_text().splitlines())
    high = cp.hlo_stats(lowered.compile().as_text())
    assert high["hlo_whiles"] == 1  # the fori_loop
    assert high["hlo_fusions"] >= 1
    assert high["hlo_computations"] > high["hlo_whiles"]
    assert high["hlo_instructions"] > high["hlo_fusions"]


def test_hlo_stats_counts_instructions_not_metadata():
    text = "\n".join([
        "HloModule m",
        "FileLocations",
        '1 {file_name_id=1 function_name_id=1 line=6}',
        "%fused_computation (param_0.1: f32[2]) -> f32[2] {",
        "  %param_0.1 = f32[2]{0} parameter(0)",
        "  ROOT %sin.2 = f32[2]{0} sine(%param_0.1)",
        "}",
        "ENTRY %main.6 (x.1: f32[2]) -> f32[2] {",
        "  %x.1 = f32[2]{0} parameter(0)",
        "  %w = (s32[], f32[2]{0}) while(%t), condition=%c, body=%b",
        "  ROOT %f = f32[2]{0} fusion(%x.1), kind=kLoop, calls=%fused_computation",
        "}",
    ])  # fmt: skip
    stats = cp.hlo_stats(text)
    assert stats == dict(hlo_chars=len(text), hlo_computations=2, hlo_instructions=5,
                         hlo_fusions=1, hlo_whiles=1)  # fmt: skip


def _rows():
    base = dict(task="t", no_fusion_emitters=False, substeps=3, status="ok")
    sizes = dict(stablehlo_ops=10, stablehlo_chars=100, hlo_instructions=20, hlo_fusions=2,
                 hlo_whiles=0, run_ms=0.5)  # fmt: skip
    stages = (("smooth", 2.0, 1000), ("collision", 30.0, 9000), ("solver", 5.0, 12000),
              ("mjx_step", 40.0, 30000))  # fmt: skip
    rows = []
    for n in (1, 64):
        for stage, compile_s, chars in stages:
            rows.append(dict(base, **sizes, batch=n, stage=stage, lower_s=1.0,
                             compile_s=compile_s, hlo_chars=chars))  # fmt: skip
    rows[0]["no_fusion_emitters"] = True
    # at 64 envs the collision compile ran out of time
    timed_out = dict(task="t", batch=64, stage="collision", status="timed_out", phase="compile",
                     phase_s=900.4, elapsed_s=910.0, lower_s=3.0, stablehlo_ops=10,
                     stablehlo_chars=100, note="")  # fmt: skip
    rows[5] = timed_out
    return rows


def test_summary_names_the_largest_stage_and_counts_a_timeout_as_its_elapsed_time():
    rows = _rows()
    one = cp.summary([r for r in rows if r["batch"] == 1])
    assert "**collision** compiles longest: 30.0 s" in one
    assert "**solver** has the largest optimized HLO: 12,000 chars" in one
    assert "mjx_step 40.0 s" in one
    many = cp.summary([r for r in rows if r["batch"] == 64])
    assert "**collision** compiles longest: 900.4 s (timed out: at least)" in many
    assert "**solver** has the largest optimized HLO" in many  # the timed-out stage has none
    assert cp.summary([dict(batch=1, stage="env_step", compile_s=3.0)]).startswith("No substep")


def test_markdown_has_a_table_per_batch(tmp_path):
    info = dict(date="d", device="cpu", platform="cpu", cpu_cores=2, command="python -m x")
    path = tmp_path / "t.md"
    cp.write_markdown(str(path), "t", info, _rows(), max_compile_s=900)
    text = path.read_text()
    assert text.count("| program | lower s | compile s |") == 2
    assert "## 1 env\n" in text and "## 64 envs\n" in text
    assert "| smooth† | 1.00 | 2.00 | 10 | 100 | 20 | 1,000 | 2 | 0 | 0.50 |  |" in text
    assert "| collision | 3.00 | > 900 (timed out) |" in text
    assert "timed out in compile after 900 s" in text
    assert "Mass matrix (MJX's layout, `--jacobian`): -." in text  # rows without the field
    rows = [dict(r, mass_matrix="dense") for r in _rows()]
    cp.write_markdown(str(path), "t", info, rows, max_compile_s=900)
    assert "Mass matrix (MJX's layout, `--jacobian`): dense." in path.read_text()
    for name in cp.STAGES:
        assert f"- `{name}`:" in text


def test_write_keeps_json_and_markdown_in_step(tmp_path):
    info = dict(date="d", device="cpu", platform="cpu", cpu_cores=2, command="python -m x")
    cp.write(str(tmp_path), "t", info, _rows(), dict(task="t", max_compile_s=900))
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["command"] == "python -m x" and saved["machine"] == info
    assert len(saved["rows"]) == 8 and os.path.exists(tmp_path / "t.md")


def test_stage_selection_keeps_program_order():
    assert cp.selected_stages(["all"]) == list(cp.STAGES)
    assert cp.selected_stages(["env_step", "reset"]) == ["reset", "env_step"]
    assert cp.SUBSTEP_STAGES[0] == "smooth" and cp.SUBSTEP_STAGES[-1] == "integrate"
    with pytest.raises(ValueError, match="unknown stage"):
        cp.selected_stages(["broad_phase"])


def test_a_phase_over_the_limit_kills_the_worker_and_records_timed_out():
    """The worker cannot even import jax in 0.2 s: the row says timed_out, the process is gone."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    worker = cp.Worker(root)
    t0 = time.perf_counter()
    row = worker.run(dict(task="cartpole_balance", batch=1, stage="reset"), limit_s=0.2)
    assert time.perf_counter() - t0 < 30
    assert row["status"] == "timed_out" and row["phase"] == "start"
    assert row["phase_s"] >= 0.2
    assert not worker.alive and worker.proc.returncode is not None


def test_markdown_names_the_command_of_each_appended_batch(tmp_path):
    info = dict(date="d", device="cpu", platform="cpu", cpu_cores=2, command="python -m y")
    rows = [dict(r, command="python -m x" if r["batch"] == 1 else "python -m y") for r in _rows()]
    path = tmp_path / "t.md"
    cp.write_markdown(str(path), "t", info, rows, max_compile_s=900)
    text = path.read_text()
    assert "- batch 1: `python -m x`" in text and "- batch 64: `python -m y`" in text
    cp.write_markdown(str(path), "t", info, [r for r in rows if r["batch"] == 64], 900)
    assert "Rows by command" not in path.read_text()  # one command: the header names it
