"""python -m flowrl_mjx.plot and launch/compare_dmc.py's report on small synthetic run dirs: the
eval protocol (stochastic by default) named in columns, legends and axis labels; the bundled
reference data; one-line errors (ValueError / exit code 2)."""

import csv
import json

import numpy as np
import pytest

from flowrl_mjx.analysis import plot, reference

TASK = "cheetah_run"


def _run(path, backend, steps, sps=1000.0, seed=0, stochastic=True):
    """A run dir with config.json and metrics.jsonl: deterministic return = steps / 1000 at each
    log point, stochastic = that + 1 (absent when not `stochastic`: a run logged before it)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(dict(task=TASK, seed=seed, backend=backend)))
    rows = [{"env_steps": s, "wall_time": s / sps, "eval/return_deterministic": s / 1000,
             "train/episode_return": float("nan")} for s in steps]  # fmt: skip
    for row in rows if stochastic else ():
        row["eval/return_stochastic"] = row["eval/return_deterministic"] + 1
    rows.insert(1, {"env_steps": 1, "wall_time": 0.1, "train/reward": 0.5})  # a row with no eval
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


BRO = "naumix/BiggerRegularizedOptimistic"  # the one source that documents its protocol


def _reference_csv(path):
    rows = [("a/repo", "sac", TASK, s, st, r) for s, off in ((1, 0), (2, 100))
            for st, r in ((0, 0 + off), (100_000, 200 + off), (500_000, 600 + off))]  # fmt: skip
    rows.append(("a/repo", "sac", "walker_run", 1, 100_000, 5))
    rows.append((BRO, "bro", TASK, 0, 100_000, 300))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([reference.COLUMNS, *rows])
    return str(path)


def _table(out):
    """(header line, {curve label: row line}) of out/returns_table.md."""
    lines = (out / "returns_table.md").read_text().splitlines()
    head = next(line for line in lines if line.startswith("| task"))
    return head, {line.split(" | ")[1]: line for line in lines if line.startswith(f"| {TASK}")}


def test_plot_writes_png_and_table_stochastic_by_default(tmp_path, capsys):
    a = _run(tmp_path / "a", "mjx", [50_000, 100_000, 480_000, 1_020_000])
    b = _run(tmp_path / "b", "dm_control", [100_000, 200_000], sps=100.0, seed=1)
    ref = _reference_csv(tmp_path / "ref.csv")
    assert plot.main([a, b, "--reference_csv", ref, "--out", str(tmp_path / "out")]) == 0
    png = tmp_path / "out" / f"returns_{TASK}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    head, rows = _table(tmp_path / "out")
    assert head == "| task | curve | stochastic 100k | stochastic 500k | stochastic 1M |"
    # stochastic returns (deterministic + 1); nearest logged point within 10% of the budget
    assert rows["mjx s0 (a)"].endswith("| 101.0 | 481.0 | 1021.0 |")
    assert rows["dm_control s1 (b)"].endswith("| 101.0 |  |  |")
    sac = "published sac [a/repo] (protocol not documented)"
    assert rows[sac].endswith("| 250.0 (n=2) | 650.0 (n=2) |  |")
    # BRO's deterministic protocol is not shown: its row fills the only set, labelled as such
    assert rows["published bro [BRO] (deterministic eval)"].endswith("| 300.0 (n=1) |  |  |")
    out = capsys.readouterr().out
    assert "published sac" in out and "official FlowRL protocol" in out


def test_protocol_both_has_a_column_set_each_and_dashed_deterministic(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    drawn = {}

    def record(fig, path, **kwargs):  # what the figure shows, instead of pixels
        steps_ax = fig.axes[0]
        drawn["ylabel"] = steps_ax.get_ylabel()
        drawn["lines"] = {line.get_label(): line.get_linestyle() for line in steps_ax.lines}
        drawn["runs"] = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]

    monkeypatch.setattr(Figure, "savefig", record)
    a = _run(tmp_path / "a", "mjx", [100_000, 500_000])
    ref = _reference_csv(tmp_path / "ref.csv")
    argv = [a, "--protocol", "both", "--reference_csv", ref, "--out", str(tmp_path / "out")]
    assert plot.main(argv) == 0
    head, rows = _table(tmp_path / "out")
    assert head == ("| task | curve | stochastic 100k | stochastic 500k | stochastic 1M "
                    "| deterministic 100k | deterministic 500k | deterministic 1M |")  # fmt: skip
    assert rows["mjx s0 (a)"].endswith("| 101.0 | 501.0 |  | 100.0 | 500.0 |  |")
    # a published row fills its source's documented protocol, else the first (stochastic) set
    assert rows["published bro [BRO] (deterministic eval)"].endswith(
        "|  |  |  | 300.0 (n=1) |  |  |"
    )
    sac = "published sac [a/repo] (protocol not documented)"
    assert rows[sac].endswith("| 250.0 (n=2) | 650.0 (n=2) |  |  |  |  |")
    assert drawn["runs"] == ["mjx s0 (a), stochastic", "mjx s0 (a), deterministic"]
    assert drawn["lines"]["mjx s0 (a), stochastic"] == "-"
    assert drawn["lines"]["mjx s0 (a), deterministic"] == "--"
    assert drawn["lines"]["bro [BRO] (n=1; deterministic eval)"] == "-"
    assert drawn["lines"]["sac [a/repo] (n=2; protocol not documented)"] == "-"
    assert "stochastic" in drawn["ylabel"] and "deterministic (dashed)" in drawn["ylabel"]
    assert plot.ylabel(("stochastic",)) == "return, stochastic eval (official FlowRL protocol)"
    assert plot.ylabel(("deterministic",)) == "return, deterministic eval (a0 = 0)"


def test_run_without_stochastic_returns_plots_only_deterministic(tmp_path, capsys):
    """A run logged before stochastic eval existed: one line naming the fix, exit 2, under the
    default protocol (and `both`); --protocol deterministic still plots it."""
    old = _run(tmp_path / "old", "mjx", [100_000], stochastic=False)
    for extra in ([], ["--protocol", "both"]):
        assert plot.main([old, *extra, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1
        assert "eval/return_stochastic" in err and "--protocol deterministic" in err
    assert plot.main([old, "--protocol", "deterministic", "--out", str(tmp_path / "o")]) == 0
    head, rows = _table(tmp_path / "o")
    assert head.endswith("| deterministic 100k | deterministic 500k | deterministic 1M |")
    assert rows["mjx s0 (old)"].endswith("| 100.0 |  |  |")


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
                 "eval/return_deterministic": 200.0, "eval/return_stochastic": 201.0}  # fmt: skip
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
    assert "| final return stochastic (official protocol) | final return deterministic |" in md
    assert "| mjx | 200000 | 200 | 1000 | 201.0 | 200.0 |" in md
    assert "| stochastic 100k |" in md and "(protocol not documented)" in md
    assert rep["protocol"] == "stochastic"
