"""python -m flowrl_mjx.plot and launch/compare_dmc.py's report on small synthetic run dirs; the
bundled reference data; one-line errors (ValueError / exit code 2)."""

import csv
import json

import numpy as np
import pytest

from flowrl_mjx import plot, reference

TASK = "cheetah_run"


def _run(path, backend, steps, sps=1000.0, seed=0):
    """A run dir with config.json and metrics.jsonl: return = steps / 1000 at each log point."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(dict(task=TASK, seed=seed, backend=backend)))
    rows = [{"env_steps": s, "wall_time": s / sps, "eval/return_deterministic": s / 1000,
             "train/episode_return": float("nan")} for s in steps]  # fmt: skip
    rows.insert(1, {"env_steps": 1, "wall_time": 0.1, "train/reward": 0.5})  # a row with no eval
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _reference_csv(path):
    rows = [("a/repo", "sac", TASK, s, st, r) for s, off in ((1, 0), (2, 100))
            for st, r in ((0, 0 + off), (100_000, 200 + off), (500_000, 600 + off))]  # fmt: skip
    rows.append(("a/repo", "sac", "walker_run", 1, 100_000, 5))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([reference.COLUMNS, *rows])
    return str(path)


def test_plot_writes_png_and_table(tmp_path, capsys):
    a = _run(tmp_path / "a", "mjx", [50_000, 100_000, 480_000, 1_020_000])
    b = _run(tmp_path / "b", "dm_control", [100_000, 200_000], sps=100.0, seed=1)
    ref = _reference_csv(tmp_path / "ref.csv")
    assert plot.main([a, b, "--reference_csv", ref, "--out", str(tmp_path / "out")]) == 0
    png = tmp_path / "out" / f"returns_{TASK}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    lines = (tmp_path / "out" / "returns_table.md").read_text().splitlines()
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith(f"| {TASK}")}
    # nearest logged point within 10% of the budget, else blank
    assert rows["mjx s0 (a)"].endswith("| 100.0 | 480.0 | 1020.0 |")
    assert rows["dm_control s1 (b)"].endswith("| 100.0 |  |  |")
    assert rows["published sac [a/repo]"].endswith("| 250.0 (n=2) | 650.0 (n=2) |  |")
    assert "published sac" in capsys.readouterr().out


def test_reference_mean_curve_and_bundled_data():
    seeds = {"1": (np.array([0.0, 100.0]), np.array([0.0, 10.0])),
             "2": (np.array([0.0, 50.0, 200.0]), np.array([2.0, 4.0, 6.0]))}  # fmt: skip
    steps, mean, std, n = reference.mean_curve(seeds)
    np.testing.assert_allclose(steps, [0, 50, 100, 200])
    # seed 2 interpolated at 100 (14/3); seed 1 is not extrapolated past its last step (100)
    np.testing.assert_allclose(mean, [1, 4.5, (10 + 14 / 3) / 2, 6])
    np.testing.assert_allclose(n, [2, 2, 2, 1])
    np.testing.assert_allclose(std, [1, 0.5, (10 - 14 / 3) / 2, 0])
    with open(reference.default_path(), newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == reference.COLUMNS
    assert not any("MRQ" in r["source_repo"] for r in rows)  # non-commercial source left out
    assert max(int(r["env_step"]) for r in rows) <= 1_050_000
    cheetah = reference.load(reference.default_path(), [TASK])[TASK]
    tdmpc2 = reference.seeds_at(cheetah["tdmpc2 [T2]"], 1_000_000)
    assert len(tdmpc2) == 3 and np.mean(tdmpc2) == pytest.approx(844.4, abs=0.1)  # its README


@pytest.mark.parametrize("case", ["missing", "no_config", "bad_json", "no_eval"])
def test_bad_run_dir_is_one_line_exit_2(tmp_path, capsys, case):
    path = tmp_path / "r"
    if case != "missing":
        _run(path, "mjx", [1000])
    if case == "no_config":
        (path / "config.json").unlink()
    if case == "bad_json":
        with open(path / "metrics.jsonl", "a") as f:
            f.write("{truncated\n")
    if case == "no_eval":
        (path / "metrics.jsonl").write_text('{"env_steps": 5, "wall_time": 1.0}\n')
    with pytest.raises(ValueError):
        plot.load_run(str(path))
    assert plot.main([str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    assert {"bad_json": "metrics.jsonl:3", "no_config": "config.json"}.get(case, "") in err


def test_bad_reference_file_is_one_line_exit_2(tmp_path, capsys):
    run = _run(tmp_path / "r", "mjx", [1000])
    (tmp_path / "cols.csv").write_text("task,step\ncheetah_run,1\n")
    (tmp_path / "num.csv").write_text(",".join(reference.COLUMNS) + f"\nx,sac,{TASK},1,abc,5\n")
    for name, why in (("nope.csv", "cannot read"), ("cols.csv", "lacks column"),
                      ("num.csv", "num.csv:2")):  # fmt: skip
        argv = [run, "--reference_csv", str(tmp_path / name), "--out", str(tmp_path / "o")]
        assert plot.main(argv) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1


def test_compare_report_from_existing_runs(tmp_path):
    from launch import compare_dmc

    out = tmp_path / "cmp"
    for backend, sps in (("mjx", 1000.0), ("dm_control", 250.0)):
        _run(out / backend, backend, [100_000, 200_000], sps=sps)
        final = {"env_steps": 200_000, "wall_time": 200_000 / sps, "perf/sps": sps,
                 "eval/return_deterministic": 200.0}  # fmt: skip
        (out / backend / "summary.json").write_text(
            json.dumps(dict(status="finished", final=final))
        )
    argv = ["--task", TASK, "--out", str(out), "--skip_train", "--episodes", "0"]
    assert compare_dmc.main(argv) == 0
    rep = json.loads((out / "compare.json").read_text())
    assert rep["wall_clock_ratio_dm_control_over_mjx"] == pytest.approx(4.0)
    assert rep["machine"]["date"] and (out / f"returns_{TASK}.png").exists()
    md = (out / "compare.md").read_text()
    assert "Wall-clock ratio dm_control / MJX: 4.00" in md and "published tdmpc2 [T2]" in md
