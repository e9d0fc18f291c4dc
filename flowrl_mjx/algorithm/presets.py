"""Presets as scale rules: each states ratios, and the numbers follow from the env count.

A preset fixes how a run scales, not one run's numbers: batch size, updates per iteration (K),
warm-up, the recent-sampling window and the epoch length are derived from `num_envs` by
`derive`, so `--num_envs 8` and `--num_envs 128` on the same preset do the same amount of
learning per env step. Any flag overrides a derived number, and `recipe_line` prints what a run
got.

Terms (N envs, batch B, K updates per iteration):
- updates per env step = K / N: the paper's update-to-data ratio (1 in the paper);
- replay ratio = K * B / N: samples drawn per transition stored (256 in the paper);
- gradient updates per 1M env steps = K * 1e6 / N (warm-up excluded).

The presets:
- paper: 1 env, batch 256, replay ratio 256 (K = 1), 512-wide networks: the paper's setting, for
  like-for-like comparison with published CPU results.
- cpu: 128 envs, batch 256, replay ratio 64 (1/4 update per env step), 128-wide networks
  (velocity field 128x128; Q, Q_buffer, V trunks one 128-wide LN+GELU layer: a labelled departure
  from the paper's 512, because on a CPU the learner sets the pace), and the gpu preset's
  per-update settings (lr 1e-3, target_rate 0.9, n_step 3, lam 0.01, below). At 128 envs this
  reached cheetah_run 500 (2 seeds) after ~200k env steps and ~50k updates; the earlier cpu
  preset (batch 128, 2 updates per env step, official per-update settings) needed ~920k updates,
  and batch 512 at 1/8 update per env step with target_rate 0.9 alone ~72k updates and ~580k
  env steps (results/scale/README.md).
- gpu: thousands of envs, batch = num_envs (at least 1,024, at most 16,384), replay ratio 20,
  lr 1e-3, target_rate 0.9, n_step 3, lam 0.01: at 4,096 envs K = 20, i.e. 48.8k gradient
  updates in 10M env steps (the update budget of the 4096-env target). Chosen by the scale study
  (results/scale/README.md, which holds the returns): the largest effects were the target rate
  and multi-step targets. At a fixed update budget, keeping 0.9 of the old target per target step
  (instead of the official 0.05) is what let cheetah_run learn (0.99 learned later); 3-step
  targets (a labelled extension, Config.n_step) then rose much sooner and were level with
  one-step targets by the end of the budget. At the same number of samples, more updates per
  sample helped (batch 1024 x K=32 beat 4096 x K=8) and lr 1e-3 was at least as good as 3e-4;
  the ratio is then as high as the update budget allows at batch = envs. A smaller W2 weight
  came next: with lam 0.01 instead of the official 0.1, cheetah_run's return was 1.35x higher
  after 25k updates at 1,024 envs, and at 4,096 envs it reached in ~0.9M env steps what lam 0.1
  reached in ~1.95M; close to lam 0 (the constraint-off ablation), while keeping FlowRL's W2
  term. A short update budget is spent mostly while the replay's actions are still poor, and the
  term pulls the policy toward them. target_rate 0.9, n_step 3 and lam 0.01
  depart from the official agent (0.05, one-step targets, 0.1) and the recipe line shows all
  three.
"""

import dataclasses

# Smallest warm-up of every preset: the paper's 5,000 uniform-random env steps.
_MIN_WARMUP_STEPS = 5000


@dataclasses.dataclass(frozen=True)
class Preset:
    """A recipe stated as ratios; `derive(num_envs)` gives the numbers."""

    num_envs: int  # the env count a run gets when --num_envs is not given
    batch_per_env: float  # batch = batch_per_env * num_envs, clipped to [batch_min, batch_max]
    batch_min: int
    batch_max: int
    replay_ratio: float  # K = max(1, round(replay_ratio * num_envs / batch))
    warmup_iters: int  # warm-up = max(5,000, warmup_iters * num_envs) env steps
    recent_iters: int  # recent-sampling window = recent_iters iterations' inserts (<= replay)
    epoch_env_steps: int  # iterations per epoch (one log point) = this / num_envs, at least 1
    replay_size: int  # replay capacity in transitions (also caps the recent window)
    fixed: dict = dataclasses.field(default_factory=dict)  # fields that do not scale


PRESETS = {
    "paper": Preset(num_envs=1, batch_per_env=256, batch_min=256, batch_max=256,
                    replay_ratio=256, warmup_iters=0, recent_iters=2048, epoch_env_steps=1000,
                    replay_size=1_000_000),
    "cpu": Preset(num_envs=128, batch_per_env=2, batch_min=256, batch_max=256, replay_ratio=64,
                  warmup_iters=0, recent_iters=16, epoch_env_steps=5120, replay_size=1_000_000,
                  fixed=dict(actor_hidden=(128, 128), critic_hidden=(128,), value_hidden=(128,),
                             lr=1e-3, target_rate=0.9, n_step=3, lam=0.01)),
    "gpu": Preset(num_envs=4096, batch_per_env=1, batch_min=1024, batch_max=16384,
                  replay_ratio=20, warmup_iters=10, recent_iters=4, epoch_env_steps=102_400,
                  replay_size=4_000_000,
                  fixed=dict(lr=1e-3, target_rate=0.9, n_step=3, lam=0.01)),
}  # fmt: skip


def default_preset(num_envs, platform: str) -> str:
    """The preset a run gets when none is named: by scale, and by device when scale is unset."""
    if num_envs is not None:
        return "paper" if num_envs == 1 else ("gpu" if num_envs >= 512 else "cpu")
    return "cpu" if platform == "cpu" else "gpu"


def derive(preset: Preset, num_envs: int, batch_size=None, replay_ratio=None, replay_size=None):
    """The preset's numbers at `num_envs` (Config and LoopConfig fields). A given batch_size,
    replay_ratio or replay_size replaces the preset's before the rest is derived from them."""
    n = num_envs
    batch = batch_size or int(min(max(round(preset.batch_per_env * n), preset.batch_min),
                                  preset.batch_max))  # fmt: skip
    ratio = preset.replay_ratio if replay_ratio is None else replay_ratio
    capacity = replay_size or preset.replay_size
    return dict(
        preset.fixed,
        num_envs=n,
        replay_size=capacity,
        batch_size=batch,
        updates_per_iter=max(1, round(ratio * n / batch)),
        warmup_steps=max(_MIN_WARMUP_STEPS, preset.warmup_iters * n),
        recent_window=min(preset.recent_iters * n, capacity),
        iters_per_epoch=max(1, round(preset.epoch_env_steps / n)),
    )


def build(name: str, replay_ratio=None, **overrides):
    """(Config, LoopConfig) of preset `name` at overrides' num_envs (or the preset's), with
    `overrides` (any field of either) replacing derived numbers. Raises ValueError for an unknown
    preset or field, or an impossible config."""
    from flowrl_mjx.algorithm.config import Config
    from flowrl_mjx.algorithm.train import LoopConfig

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    fields = {**Config.__dataclass_fields__, **LoopConfig.__dataclass_fields__}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    preset = PRESETS[name]
    num_envs = overrides.get("num_envs", preset.num_envs)
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    if replay_ratio is not None and not replay_ratio > 0:
        raise ValueError(f"replay_ratio must be > 0, got {replay_ratio}")
    given = {k: overrides.get(k) for k in ("batch_size", "replay_size")}
    values = dict(derive(preset, num_envs, replay_ratio=replay_ratio, **given), **overrides)
    pick = lambda cls: {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
    cfg, loop = Config(**pick(Config)).validate(), LoopConfig(**pick(LoopConfig))
    if cfg.recent_fraction > 0 and cfg.recent_window < loop.num_envs:
        raise ValueError(
            f"recent_window={cfg.recent_window} is smaller than one iteration's inserts "
            f"(num_envs={loop.num_envs}): the recent draws would miss part of the newest data"
        )
    return cfg, loop


def recipe_line(preset: str, cfg, loop) -> str:
    """One line stating what a run does per env step, printed at the start of every run; it ends
    with n_step=N and obs_norm=on when those extensions (Config.n_step, .obs_norm) are on."""
    n, b, k = loop.num_envs, cfg.batch_size, cfg.updates_per_iter
    widths = lambda h: "x".join(str(w) for w in h)
    return (
        f"recipe: preset={preset} envs={n} batch={b} K={k} updates/env_step={k / n:.4g} "
        f"replay_ratio={k * b / n:.4g} updates/1M_env_steps={round(k * 1e6 / n):,} "
        f"lr={cfg.lr:g} warmup={cfg.warmup_steps:,} recent={cfg.recent_window:,} "
        f"({cfg.recent_fraction:g} of each batch) target_rate={cfg.target_rate:g} "
        f"mode={cfg.mode} lam={cfg.lam:g} "
        f"nets actor={widths(cfg.actor_hidden)} critic={widths(cfg.critic_hidden)} "
        f"value={widths(cfg.value_hidden)}"
        + (f" n_step={cfg.n_step}" if cfg.n_step > 1 else "")
        + (" obs_norm=on" if cfg.obs_norm else "")
    )
