"""launch/peer_brax_sac.py: its pure helpers (no training), and its config split against the
installed Playground and brax (skipped without Playground)."""

import functools
import inspect
import json
import math

import pytest

from launch import peer_brax_sac as peer


def _point(steps, wall, ret, **extra):
    return dict(env_steps=steps, wall_s=wall, eval_return=ret, **extra)


def test_first_crossing_is_the_first_eval_at_or_above_the_threshold():
    curve = [
        _point(0, 10.0, 1.0),
        _point(100, 20.0, 499.9),
        _point(200, 30.0, 500.0),
        _point(300, 40.0, 620.0),
    ]
    hit = peer.first_crossing(curve, 500.0)
    assert hit == dict(threshold=500.0, env_steps=200, wall_s=30.0, eval_return=500.0)
    assert peer.first_crossing(curve, 700.0) is None
    assert peer.first_crossing([], 500.0) is None


def test_first_crossing_ignores_a_later_dip():
    curve = [_point(0, 1.0, 0.0), _point(1, 2.0, 510.0), _point(2, 3.0, 480.0)]
    assert peer.first_crossing(curve, 500.0)["env_steps"] == 1


def test_split_config_keeps_what_train_takes_and_reports_the_rest():
    kwargs, dropped = peer.split_config(dict(num_envs=128, num_resets_per_eval=10), {"num_envs"})
    assert kwargs == dict(num_envs=128)
    assert dropped == dict(num_resets_per_eval=10)


def test_curve_point_reads_brax_metrics_as_plain_numbers():
    first = peer.curve_point(
        0, 12.34567, {"eval/episode_reward": 1.5, "eval/walltime": 4.0, "eval/epoch_eval_time": 4.0}
    )
    assert first["env_steps"] == 0 and first["wall_s"] == 12.346
    assert first["wall_s_no_eval"] == pytest.approx(8.346)
    assert "train_sps" not in first  # no training before the first callback
    assert math.isnan(first["eval_return_std"])  # absent from the metrics: NaN, not an error
    later = peer.curve_point(
        4096,
        50.0,
        {
            "eval/episode_reward": 3.0,
            "eval/episode_reward_std": 0.5,
            "eval/epoch_eval_time": 3.0,
            "eval/walltime": 7.0,
            "training/walltime": 30.0,
            "training/sps": 600.0,
        },
    )
    assert later["train_walltime_s"] == 30.0 and later["train_sps"] == 600.0
    json.dumps([first, later])  # the record is written as JSON


def test_timing_summary_separates_compiling_calls_from_steady_ones():
    # epochs: 62 s (prefill + compile), then 5, 5, 5 s; evals: 57 s, 44 s (recompile), 5, 4, 5 s
    curve = [
        _point(0, 100.0, 0.0, eval_s=57.0),
        _point(4096, 200.0, 1.0, eval_s=44.0, train_walltime_s=62.0, train_sps=66.0),
        _point(8192, 210.0, 2.0, eval_s=5.0, train_walltime_s=67.0, train_sps=800.0),
        _point(12288, 219.0, 3.0, eval_s=4.0, train_walltime_s=72.0, train_sps=820.0),
        _point(16384, 229.0, 4.0, eval_s=5.0, train_walltime_s=77.0, train_sps=810.0),
    ]
    t = peer.timing_summary(curve)
    assert t["setup_s"] == 43.0  # before the first eval started
    assert t["train_sps_steady"] == 810.0
    assert t["train_compile_s"] == 57.0  # 62 - 5
    assert t["eval_s_steady"] == 5.0
    assert t["eval_compile_s"] == 52.0 + 39.0  # both slow evals count
    assert t["compile_s"] == 43.0 + 57.0 + 91.0
    assert t["env_steps_per_s_overall"] == round(16384 / 229.0, 1)
    assert peer.timing_summary([]) == {}


def test_slow_extra_leaves_warm_jitter_out():
    assert peer.slow_extra([10.0, 1.0, 1.2, 0.9]) == pytest.approx(9.0)
    assert peer.slow_extra([1.1, 1.0, 1.2]) == 0.0


def test_parse_defaults_and_output_path():
    args = peer.parse(["--seed", "3", "--out", "somewhere"])
    assert args.num_timesteps is None and args.num_evals is None  # the config's
    assert not args.deterministic_eval and args.threshold == 500.0
    assert args.command == "python -m launch.peer_brax_sac --seed 3 --out somewhere"
    assert peer.out_path(args.out, args.seed).endswith("brax_sac_cheetah_run_s3.json")


def test_playground_config_fits_brax_sac():
    """The installed Playground's CheetahRun configs: impl is a field, and everything but the
    known PPO-only key goes to brax SAC's train (cheap: no env is built)."""
    pytest.importorskip("mujoco_playground")
    from brax.training.agents.sac import train as sac_train
    from mujoco_playground import registry
    from mujoco_playground.config import dm_control_suite_params

    assert "impl" in registry.get_default_config(peer.ENV_NAME)
    cfg = dm_control_suite_params.brax_sac_config(peer.ENV_NAME).to_dict()
    cfg.pop("network_factory")
    accepted = set(inspect.signature(sac_train.train).parameters)
    kwargs, dropped = peer.split_config(cfg, accepted)
    assert set(dropped) <= {"num_resets_per_eval"}
    assert kwargs["num_envs"] == 128 and kwargs["batch_size"] == 512


def test_run_writes_the_record_around_a_stand_in_trainer(tmp_path, monkeypatch):
    """run() end to end with brax's train replaced by a stand-in that calls progress_fn the way
    brax does (no env built, no training): the JSON has the curve, crossing and timing."""
    pytest.importorskip("mujoco_playground")
    from brax.training.agents.sac import train as sac_train
    from mujoco_playground import registry

    seen = {}

    def fake_train(environment, progress_fn, **kwargs):
        seen.update(kwargs)
        progress_fn(
            0, {"eval/episode_reward": 2.0, "eval/epoch_eval_time": 1.0, "eval/walltime": 1.0}
        )
        progress_fn(
            4096,
            {
                "eval/episode_reward": 510.0,
                "eval/epoch_eval_time": 1.0,
                "eval/walltime": 2.0,
                "training/walltime": 3.0,
                "training/sps": 900.0,
            },
        )

    # the real signature (inspect follows __wrapped__): run() splits the config against it
    monkeypatch.setattr(sac_train, "train", functools.wraps(sac_train.train)(fake_train))
    monkeypatch.setattr(registry, "load", lambda name, config: object())
    args = peer.parse(["--seed", "7", "--num_timesteps", "16384", "--out", str(tmp_path)])
    peer.run(args)
    with open(peer.out_path(str(tmp_path), 7)) as f:
        record = json.load(f)
    assert record["complete"] and record["env_config"]["impl"] == "jax"
    assert record["sac_config"]["num_timesteps"] == 16384 and seen["num_timesteps"] == 16384
    assert seen["seed"] == 7 and seen["deterministic_eval"] is False
    assert "num_resets_per_eval" in record["dropped_config_keys"]
    assert [p["env_steps"] for p in record["curve"]] == [0, 4096]
    assert record["first_crossing"]["env_steps"] == 4096
    assert record["machine"]["versions"]["playground"] is not None
    assert "first passed at 4,096 env steps" in peer.report(record, "x.json")
