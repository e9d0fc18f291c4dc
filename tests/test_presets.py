"""Presets as scale rules: numbers follow from num_envs, flags override, the recipe line says it."""

import pytest

from flowrl_mjx.algorithm import presets

ENV_COUNTS = (1, 8, 128, 1024, 4096, 16384)


def test_cpu_preset_keeps_updates_per_env_step_at_any_env_count():
    for n in (8, 32, 128):
        cfg, loop = presets.build("cpu", num_envs=n)
        assert cfg.batch_size == 256 and cfg.updates_per_iter * 256 == 64 * n
        assert cfg.updates_per_iter / n == 0.25
    cfg, loop = presets.build("cpu")
    assert (loop.num_envs, cfg.updates_per_iter, cfg.recent_window) == (128, 32, 2048)
    assert loop.iters_per_epoch == 40 and cfg.warmup_steps == 5000


def test_gpu_preset_batch_follows_env_count_within_bounds():
    for n, batch in ((512, 1024), (4096, 4096), (65536, 16384)):
        cfg, loop = presets.build("gpu", num_envs=n)
        assert cfg.batch_size == batch
        assert cfg.updates_per_iter == max(
            1, round(presets.PRESETS["gpu"].replay_ratio * n / batch)
        )
        assert cfg.warmup_steps == max(5000, 10 * n)


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_recent_window_never_smaller_than_one_iteration(name):
    for n in ENV_COUNTS:
        cfg, loop = presets.build(name, num_envs=n)
        assert cfg.recent_window >= loop.num_envs, (name, n)


def test_flags_override_derived_numbers():
    cfg, _ = presets.build("gpu", num_envs=4096, updates_per_iter=3)
    assert cfg.updates_per_iter == 3
    cfg, _ = presets.build("gpu", num_envs=4096, batch_size=1024)
    assert cfg.updates_per_iter == 80  # K follows the given batch at the preset's ratio 20
    cfg, _ = presets.build("gpu", num_envs=4096, replay_ratio=16)
    assert cfg.updates_per_iter == 16
    with pytest.raises(ValueError, match="one iteration's inserts"):
        presets.build("gpu", num_envs=4096, recent_window=2048)
    cfg, _ = presets.build("gpu", num_envs=4096, recent_window=2048, recent_fraction=0.0)
    with pytest.raises(ValueError, match="replay_ratio"):
        presets.build("cpu", replay_ratio=0)
    with pytest.raises(ValueError, match="unknown setting"):
        presets.build("cpu", batch=3)


def test_recipe_line_states_the_ratios():
    cfg, loop = presets.build("cpu", num_envs=64)
    line = presets.recipe_line("cpu", cfg, loop)
    assert line.startswith("recipe: preset=cpu envs=64 batch=256 K=16 updates/env_step=0.25 ")
    assert "replay_ratio=64 " in line and "updates/1M_env_steps=250,000 " in line
    assert "nets actor=128x128 critic=128 value=128" in line
    assert " target_rate=0.9 " in line and " lam=0.01 " in line and line.endswith(" n_step=3")
    cfg, loop = presets.build("paper")
    paper = presets.recipe_line("paper", cfg, loop)
    # the paper preset keeps the official per-update settings and no extension
    assert " target_rate=0.05 " in paper and " lam=0.1 " in paper and "n_step" not in paper
