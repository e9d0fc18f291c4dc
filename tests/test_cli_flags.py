"""The absl entry points besides the training CLI (python -m flowrl_mjx.evaluate / .plot,
launch/compare_dmc.py, launch/peer_brax_sac.py) through flowrl_mjx.runtime.cli_flags: usage errors
are one 'error:' line with exit code 2, --help exits 0, main(argv) parses afresh on every call,
and all of them import into one process beside the training CLI. No training: seconds."""

import os
import subprocess
import sys

import pytest
from absl import flags

from flowrl_mjx.analysis import evaluate, plot
from flowrl_mjx.runtime import cli_flags
from launch import compare_dmc
from launch import peer_brax_sac as peer

# (main, argv every call needs, a malformed value: a bad enum choice where the program has one)
ENTRY_POINTS = {
    "evaluate": (evaluate.main, ["--run_dir", "r"], ["--backend", "pybullet"]),
    "plot": (plot.main, ["r"], ["--protocol", "greedy"]),
    "compare_dmc": (compare_dmc.main, [], ["--protocol", "greedy"]),
    "peer_brax_sac": (peer.main, [], ["--seed", "abc"]),  # no enum flag: a malformed integer
}


def _exit(main, argv, capsys):
    """(exit code, stdout, stderr lines) of main(argv), which must exit (usage error or help)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return e.value.code, out, err.strip().splitlines()


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_usage_errors_are_one_line_exit_2(name, capsys):
    main, needed, malformed = ENTRY_POINTS[name]
    cases = [
        ([*needed, "--foo"], "Unknown command line flag 'foo'"),
        ([*needed, *malformed], f"--{malformed[0][2:]}="),
        ([*needed, malformed[0]], f"Missing value for flag {malformed[0]}"),
    ]
    for argv, needle in cases:
        code, out, err = _exit(main, argv, capsys)
        assert code == 2 and out == "", (argv, out)
        assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], (argv, err)
    if name == "compare_dmc":  # the only enum whose choices come from another module's
        code, _, err = _exit(main, ["--protocol", "greedy"], capsys)
        assert "<stochastic|deterministic|both>" in err[0]


def test_missing_required_flag_or_argument_and_other_bad_input(capsys):
    for main, argv, needle in [
        (evaluate.main, [], "--run_dir"),
        (plot.main, ["--out", "x"], "required: RUN_DIR"),
        (evaluate.main, ["--run_dir", "r", "stray"], "unexpected argument(s) stray"),
        (evaluate.main, ["--run_dir", "r", "--episodes", "0"], "must be positive"),
        (peer.main, ["stray"], "unexpected argument(s) stray"),
        (plot.main, ["r", "--noreference=1"], "--noreference=1 does not take an argument"),
    ]:
        code, _, err = _exit(main, argv, capsys)
        assert code == 2 and len(err) == 1 and err[0].startswith("error:"), (argv, err)
        assert needle in err[0], (argv, err)


@pytest.mark.parametrize("name", ENTRY_POINTS)
@pytest.mark.parametrize("flag", ["--help", "-h", "--helpfull"])
def test_help_exits_0_with_every_flag(name, flag, capsys):
    """Help wins over what else is wrong (argparse's order): an unknown flag, a missing one."""
    main = ENTRY_POINTS[name][0]
    code, out, err = _exit(main, [flag, "--foo"], capsys)
    assert code == 0 and err == []
    module = sys.modules[main.__module__]
    assert out.startswith(module.__doc__.strip().splitlines()[0])
    for key in cli_flags.values(module.FLAGS):
        assert f"--{key}:" in out or f"--[no]{key}:" in out, (name, key)
    assert "-h,--help,--helpfull: show this help and exit" in out


def test_each_call_parses_afresh():
    """main(argv) in a test or a loop: no value of an earlier parse (a failed one included)."""
    args = peer.parse(["--seed", "3", "--deterministic_eval", "--out", "x"])
    assert (args.seed, args.deterministic_eval, args.out) == (3, True, "x")
    with pytest.raises(SystemExit):
        peer.parse(["--threshold", "9", "--foo"])  # parsed --threshold before failing
    args = peer.parse([])
    assert (args.seed, args.deterministic_eval, args.threshold) == (0, False, 500.0)
    assert args.out.endswith("peer") and args.num_timesteps is None
    args = compare_dmc.parse(["--task", "walker_run", "--reference_methods", "sac, tdmpc2 [T2]"])
    assert args.reference_methods == ["sac", "tdmpc2 [T2]"] and args.out.endswith("walker_run_s0")
    args = compare_dmc.parse(["--launch_args", "--preset cpu --num_envs 8"])  # a value with '-'
    assert args.launch_args == "--preset cpu --num_envs 8" and args.reference_methods is None
    assert args.command == "python -m launch.compare_dmc --launch_args '--preset cpu --num_envs 8'"


def test_parse_flags_on_its_own_flag_values(capsys):
    fv = cli_flags.flag_values("python -m x ARG...\n\nWhat x does.")
    flags.DEFINE_multi_integer("k", [1], "repeatable", flag_values=fv)
    assert cli_flags.parse_flags(["x", "a", "--k", "2", "--k=3", "b"], fv, "ARG") == ["x", "a", "b"]
    assert fv.k == [2, 3]
    assert cli_flags.parse_argv(fv, ["a"], positional="ARG") == ["a"] and fv.k == [1]
    with pytest.raises(SystemExit) as e:
        cli_flags.parse_argv(fv, ["--k", "two", "a"], positional="ARG")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: flag --k=two: invalid literal for int() with base 10: 'two'\n"
    with pytest.raises(SystemExit) as e:
        cli_flags.usage_exit(ValueError("two\n  lines"))
    assert e.value.code == 2 and capsys.readouterr().err == "error: two lines\n"


def test_all_entry_points_import_into_one_process():
    """absl's global FLAGS takes each name once: only the training CLI defines flags on it; the
    others (which share --seed, --out, --run_dir, --protocol with it or each other) keep theirs
    on FlagValues of their own. A fresh process: nothing imported before."""
    code = (
        "import flowrl_mjx.runtime.cli as cli, flowrl_mjx.launch, flowrl_mjx.evaluate, "
        "flowrl_mjx.plot, launch.compare_dmc as c, launch.peer_brax_sac as p\n"
        "from absl import flags\n"
        "assert {'seed', 'run_dir', 'task'} <= set(flags.FLAGS) and 'protocol' not in flags.FLAGS\n"
        "assert c.FLAGS is not c.plot.FLAGS and p.parse(['--seed', '4']).seed == 4\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr[-2000:]


def test_module_entry_points_exit_codes():
    """`python -m` through the shims: exit 2 with one error line, and 0 on --help (one process
    each, run side by side: each spends its seconds importing jax)."""
    runs = [(["flowrl_mjx.evaluate", "--run_dir", "r", "--backend", "x"], 2, ""),
            (["flowrl_mjx.plot", "--help"], 0, ""), (["launch.compare_dmc", "--foo"], 2, ""),
            (["launch.random_returns", "--tasks", "dog_sprint", "--out", "no_such_out"], 2,
             "unknown task(s) dog_sprint"),
            (["launch.solver_iterations", "--task", "dog_fly", "--out", "no_such_out"], 2,
             "unknown task dog_fly")]  # fmt: skip
    pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen([sys.executable, "-m", *argv], **pipe) for argv, _, _ in runs]
    for (argv, want, says), proc in zip(runs, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == want, (argv, err[-1000:])
        if want == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), (argv, err)
            assert says in err, (argv, err)
            assert not os.path.exists("no_such_out"), argv  # bad input writes nothing
        else:
            assert "flags:" in out and err == ""
