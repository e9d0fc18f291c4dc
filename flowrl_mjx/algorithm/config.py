"""The agent's settings: one frozen, typed dataclass, closed over by every factory (never traced).

Fields marked (static) fix shapes, loop counts or code paths: changing one recompiles. Defaults are
the FlowRL paper's / official code's (docs/design.md s3) unless a comment says otherwise.
"""

import dataclasses

MODES = ("official", "paper")
INTEGRATORS = ("midpoint", "euler")


@dataclasses.dataclass(frozen=True)
class Config:
    """FlowRL learner settings. `validate()` rejects impossible values with one line."""

    # (static) Hidden widths of the velocity field v(s, a_t, t): Dense+LayerNorm+ELU per entry.
    actor_hidden: tuple = (512, 512)
    # (static) Widths of the LayerNorm+GELU blocks of each twin-Q head (critic and Q_buffer).
    critic_hidden: tuple = (512, 512)
    # (static) Widths of the LayerNorm+GELU blocks of V(s).
    value_hidden: tuple = (512, 512)
    # (static) Number N of fixed-size integration steps over t in [0, 1] (midpoint: 2N evals).
    flow_steps: int = 1
    # (static) ODE integrator for action sampling: "midpoint" (official) or "euler".
    integrator: str = "midpoint"
    # (static) Transitions per gradient update.
    batch_size: int = 256
    # (static) Replay ring-buffer capacity, in transitions.
    replay_size: int = 1_000_000
    # (static) K: gradient updates per training iteration (one lax.scan in `update`).
    updates_per_iter: int = 1
    # (static) The actor steps when the update counter is a multiple of this (official: 2).
    policy_delay: int = 2
    # (static) Target nets move when the update counter is a multiple of this (official: 2).
    target_delay: int = 2
    # (static) "official": the released code's actor weighting, flow matching averaged over
    # action dims; "paper": the paper's, ||.||^2 summed over action dims (see losses).
    mode: str = "official"
    # Adam learning rate, all four optimisers.
    lr: float = 3e-4
    # Discount factor gamma.
    gamma: float = 0.99
    # Expectile tau of the V regression on min Q_buffer_target (paper: 0.9).
    expectile: float = 0.9
    # lambda: weight of the flow-matching (W2 bound) term in the actor loss. 0 removes the term
    # exactly in both modes (the constraint-off ablation).
    lam: float = 0.1
    # (static) "paper" mode only: the largest per-sample weight f(d) (bounds the actor gradient).
    paper_max_weight: float = 20.0
    # Fraction of the OLD target kept per target step: target <- rate*target + (1-rate)*online.
    target_rate: float = 0.05
    # (static) Fraction of each batch drawn from the newest `recent_window` entries (0: uniform).
    recent_fraction: float = 0.2
    # (static) Size of the "recent" window for `recent_fraction` draws, in transitions.
    recent_window: int = 2048
    # Env steps of uniform-random actions before the policy acts and updates start.
    warmup_steps: int = 5000
    # Noise a0 ~ N(0, I) is clipped to [-a0_clip, a0_clip] in "official" mode only.
    a0_clip: float = 1.0
    # (static) n-step TD targets, a labelled extension beyond the paper (FastTD3's, PQN's
    # multi-step returns): the critic and Q_buffer targets sum up to n rewards along one env's
    # trajectory (flowrl_mjx.algorithm.replay.n_step_chain); 1 is the paper's one-step target.
    n_step: int = 1
    # (static) Observation normalisation, a labelled extension beyond the paper (brax SAC's
    # normalize_observations): running mean/variance of the observations
    # (flowrl_mjx.algorithm.normalizer), applied to every network input; off reproduces the paper's
    # agent exactly.
    obs_norm: bool = False

    def validate(self) -> "Config":
        """Returns self, or raises ValueError naming the first impossible value."""
        for msg in _problems(self):
            raise ValueError(f"invalid config: {msg}")
        return self


def _problems(c: Config):
    for name in ("actor_hidden", "critic_hidden", "value_hidden"):
        sizes = getattr(c, name)
        if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
            yield f"{name}={sizes!r} must be a non-empty tuple of positive ints"
    for name in (
        "flow_steps",
        "batch_size",
        "replay_size",
        "updates_per_iter",
        "policy_delay",
        "target_delay",
        "n_step",
    ):
        if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
            yield f"{name}={getattr(c, name)!r} must be a positive int"
    if c.batch_size > c.replay_size:
        yield f"batch_size={c.batch_size} exceeds replay_size={c.replay_size}"
    if c.mode not in MODES:
        yield f"mode={c.mode!r} is not one of {MODES}"
    if c.integrator not in INTEGRATORS:
        yield f"integrator={c.integrator!r} is not one of {INTEGRATORS}"
    if not c.lr > 0:
        yield f"lr={c.lr} must be > 0"
    if not 0 <= c.gamma <= 1:
        yield f"gamma={c.gamma} must be in [0, 1]"
    if not 0 < c.expectile < 1:
        yield f"expectile={c.expectile} must be in (0, 1)"
    if not c.lam >= 0:
        yield f"lam={c.lam} must be >= 0"
    if not c.paper_max_weight >= 1:
        yield f"paper_max_weight={c.paper_max_weight} must be >= 1"
    if not 0 <= c.target_rate <= 1:
        yield f"target_rate={c.target_rate} must be in [0, 1]"
    if not 0 <= c.recent_fraction <= 1:
        yield f"recent_fraction={c.recent_fraction} must be in [0, 1]"
    if c.recent_window < 0 or c.recent_window > c.replay_size:
        yield f"recent_window={c.recent_window} must be in [0, replay_size={c.replay_size}]"
    if c.recent_fraction > 0 and c.recent_window == 0:
        yield "recent_fraction > 0 needs recent_window > 0"
    if c.warmup_steps < 0:
        yield f"warmup_steps={c.warmup_steps} must be >= 0"
    if not c.a0_clip > 0:
        yield f"a0_clip={c.a0_clip} must be > 0"
    if not isinstance(c.obs_norm, bool):
        yield f"obs_norm={c.obs_norm!r} must be True or False"
