"""Task presets: the defaults a run starts from; any flag overrides a field.

Replay ratio = updates_per_iter * batch_size / num_envs (samples drawn per transition stored).

- paper: 1 env, batch 256, K=1, ratio 256. The paper's setting, for like-for-like comparison
  with published CPU results (networks 512 wide as the paper).
- cpu: 128 envs, batch 128, K=256: replay ratio 256 (the paper's), 2 updates per env step (the
  paper: 1). On 2 CPU cores the learner sets the pace, so the networks are 128 wide (velocity
  field 128x128; Q, Q_buffer, V trunks with one 128-wide LN+GELU layer): a labelled departure
  from the paper's 512; an update takes 1.5 ms at batch 128 and 5.0 ms at batch 512 vs 144 ms for
  512-wide nets at batch 512 on 2 cores (`python -m launch.bench_update --hidden 128
  --batch_sizes 128,256,512 --updates_per_call 20`, 2026-11-24). Small batches, many updates:
  at the same cost per env step as batch 512 / K=64, 4x the gradient steps learned cheetah_run
  about twice as fast in wall-clock. results/learning_cpu.md has the runs that chose it.
- gpu: 4096 envs, batch 4096, K=8, ratio 8. Thousands of envs: large batches keep the GPU busy;
  ratio 8 as massively parallel off-policy methods use (FastTD3-style); not yet tuned here.
"""

PRESETS = {
    "paper": dict(num_envs=1, batch_size=256, updates_per_iter=1, warmup_steps=5000,
                  replay_size=1_000_000, iters_per_epoch=1000),
    "cpu": dict(num_envs=128, batch_size=128, updates_per_iter=256, warmup_steps=5000,
                replay_size=1_000_000, actor_hidden=(128, 128), critic_hidden=(128,),
                value_hidden=(128,), iters_per_epoch=40),
    "gpu": dict(num_envs=4096, batch_size=4096, updates_per_iter=8, warmup_steps=40_960,
                replay_size=4_000_000, iters_per_epoch=25),
}  # fmt: skip


def default_preset(num_envs, platform: str) -> str:
    """The preset a run gets when none is named: by scale, and by device when scale is unset."""
    if num_envs is not None:
        return "paper" if num_envs == 1 else ("gpu" if num_envs >= 512 else "cpu")
    return "cpu" if platform == "cpu" else "gpu"


def build(name: str, **overrides):
    """(Config, LoopConfig) of preset `name` with `overrides` (any field of either) applied.
    Raises ValueError for an unknown preset or field, or an impossible config."""
    from flowrl_mjx.config import Config
    from flowrl_mjx.train import LoopConfig

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    values = dict(PRESETS[name], **overrides)
    fields = {**Config.__dataclass_fields__, **LoopConfig.__dataclass_fields__}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    pick = lambda cls: {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
    return Config(**pick(Config)).validate(), LoopConfig(**pick(LoopConfig))
