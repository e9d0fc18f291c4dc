"""Task presets: the defaults a run starts from; any flag overrides a field.

Replay ratio = updates_per_iter * batch_size / num_envs (samples drawn per transition stored).
| preset | envs | batch | K | replay ratio | why |
|---|---:|---:|---:|---:|---|
| paper  | 1    | 256   | 1 | 256 | the paper's setting (1 env, 1 update per env step) for like-for-like comparison |
| cpu    | 16   | 256   | 2 | 32  | 2-core CPU: the learner sets the pace (DESIGN.md s6), so fewer updates per env step and 256-wide nets (a labelled departure from the paper's 512) |
| gpu    | 4096 | 4096  | 8 | 8   | thousands of envs: large batches keep the GPU busy; ratio 8 as massively parallel off-policy methods use (FastTD3-style), not yet tuned here |
"""

PRESETS = {
    "paper": dict(num_envs=1, batch_size=256, updates_per_iter=1, warmup_steps=5000,
                  replay_size=1_000_000, iters_per_epoch=1000),
    "cpu": dict(num_envs=16, batch_size=256, updates_per_iter=2, warmup_steps=5000,
                replay_size=1_000_000, actor_hidden=(256, 256), critic_hidden=(256, 256),
                value_hidden=(256, 256), iters_per_epoch=250),
    "gpu": dict(num_envs=4096, batch_size=4096, updates_per_iter=8, warmup_steps=40_960,
                replay_size=4_000_000, iters_per_epoch=25),
}  # fmt: skip


def default_preset(num_envs, platform: str) -> str:
    """The preset a run gets when none is named: by scale, and by device when scale is unset."""
    if num_envs is not None:
        return "paper" if num_envs == 1 else ("gpu" if num_envs >= 512 else "cpu")
    return "cpu" if platform == "cpu" else "gpu"
