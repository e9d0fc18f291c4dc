"""The scale study's collection: update counts, seed means over shared log points, the table."""

import json
import os

from launch import scale_study


def _write_run(folder, seeds, rows_per_seed, k=4, warmup=2048, target_rate=0.9):
    os.makedirs(folder)
    cfg = dict(batch_size=1024, updates_per_iter=k, lr=1e-3, lam=0.1, mode="official")
    cfg.update(target_rate=target_rate, warmup_steps=warmup, recent_window=4096)
    cfg.update(actor_hidden=[128, 128], critic_hidden=[128], value_hidden=[128])
    settings = dict(task="cheetah_run", seed=0, num_seeds=len(seeds), preset="gpu", config=cfg)
    settings.update(loop=dict(num_envs=1024), machine=dict(command="python -m x", date="d"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(settings, f)
    for s, rows in zip(seeds, rows_per_seed, strict=True):
        member = folder if len(seeds) == 1 else os.path.join(folder, f"seed_{s}")
        os.makedirs(member, exist_ok=True)
        with open(os.path.join(member, "metrics.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


def _row(steps, ret, updates=None, wall=1.0):
    row = {"env_steps": steps, "wall_time": wall, "eval/return_stochastic": ret}
    row["eval/return_deterministic"] = ret + 1
    if updates is not None:
        row["train/updates"] = updates
    return row


def test_collect_means_seeds_over_shared_points_and_reads_logged_updates(tmp_path, monkeypatch):
    monkeypatch.setattr(scale_study, "EARLIER", {})
    out = str(tmp_path)
    seed0 = [_row(4096, 10.0, 8), _row(8192, 30.0, 24), _row(12288, 50.0, 40)]
    seed1 = [_row(4096, 20.0, 8), _row(8192, 50.0, 24)]  # stopped one point earlier
    _write_run(os.path.join(out, "runs", "two"), [0, 1], [seed0, seed1])
    # a log from before train/updates existed: K * (iterations since the warm-up ended)
    _write_run(os.path.join(out, "runs", "old"), [0], [[_row(8192, 5.0)]], target_rate=0.05)
    study = scale_study.collect(out)
    runs = {r["name"]: r for r in study["runs"]}
    two = runs["two"]
    assert [p["env_steps"] for p in two["points"]] == [4096, 8192]
    assert [p["updates"] for p in two["points"]] == [8, 24]
    assert two["points"][1]["eval_return_stochastic"] == 40.0
    assert two["points"][1]["per_seed_stochastic"] == [30.0, 50.0]  # seed 0, seed 1
    assert runs["old"]["points"][0]["updates"] == 4 * (8 - 2 + 1)
    table = scale_study.markdown(study)
    line = next(t for t in table.splitlines() if t.startswith("| two |"))
    assert "| 0.9 | 0.1 |" in line and "40.0 [30, 50] / 41.0" in line
    assert "| 0.05 |" in next(t for t in table.splitlines() if t.startswith("| old |"))


def test_every_arm_command_names_its_checkpoint_interval_once():
    for name, spec in scale_study.ARMS.items():
        cmd = scale_study.arm_command(name, spec, "runs/x", resume=False)
        assert cmd.count("--checkpoint_every") == 1, name
        assert cmd[cmd.index("--checkpoint_every") + 1] == str(spec["checkpoint_every"])
    s = scale_study.ARMS["cheetah_4096_S_w512"]
    assert s["checkpoint_every"] == 1 and "--checkpoint_every" not in s["flags"]
