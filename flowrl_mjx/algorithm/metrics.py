"""Every metric the programs log, declared once in `METRICS`: its name, how a log point reduces it
over the iterations (or calls) it spans, whether a non-finite value stops the run, and what it
means. The rules' callers (train.reduce_iterations, which makes every log point, and the
runners' non-finite checks) ask `keeps_last` and `stops_run`, which answer from the table.

Names are "<group>/<name>". How the groups behave (the table states it per metric):
- train/*: the env side of training. A log point keeps the value of its last iteration (running
  counts, the flag train/learning, the newest finished episodes' return), except train/reward,
  averaged. Non-finite values are expected (no episode has ended yet) and never stop a run.
- critic/*, qbuf/*, value/*, actor/*: the K updates' losses and diagnostics, averaged over
  iterations (actor/* first over the updates where the actor stepped, in update.averaged); a
  non-finite value stops the run, keeping the last good checkpoint.
- eval/*: evaluation returns. A diverged policy's NaN return is a symptom; the losses name the
  cause, so eval/* never stops a run.
- perf/*: timings measured on the host; never stop a run.
eval/* and perf/sps are measured once per log point (after the reduction): their "mean" is what
`keeps_last` answers, and what would combine several.

A metrics.jsonl row also holds `ROW_COLUMNS` (env_steps, wall_time): the log point's coordinates,
not metrics; no rule applies to them. Asking a rule about an undeclared name raises
`UndeclaredMetric`: nothing of ours produces one (tests/test_metrics.py checks what the programs
emit), so a new metric must be declared here before a run can log it. TensorBoard and W&B get the
rows as written (finite values only) and ask no rule; names that never reach the rules (a peer's
own metrics in launch/peer_brax_sac.py) need no entry.
"""

import dataclasses
from typing import Literal

LAST, MEAN = "last", "mean"
ROW_COLUMNS = ("env_steps", "wall_time")  # a log row's keys that are not metrics


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric's declaration (a row of METRICS)."""

    name: str  # "<group>/<name>"
    reduce: Literal["last", "mean"]  # a log point's value: its last iteration's, or their mean
    stops_run: bool  # a non-finite value stops training (the last good checkpoint is kept)
    meaning: str  # one line

    def __post_init__(self):
        if self.reduce not in (LAST, MEAN) or "/" not in self.name:
            raise ValueError(f"bad metric declaration {self}")


class UndeclaredMetric(LookupError):
    """A metric name absent from METRICS."""


STOPS, GOES_ON = True, False  # stops_run: a non-finite value stops the run, or not
_DECLARED = (
    # train/*: the env side, from the fused iteration (train.py) or host_runner's tracker; the
    # update's running count (update.py); learn_and_act (host_train.py) adds train/learning too
    Metric("train/reward", MEAN, GOES_ON, "mean reward per env step of the training envs"),
    Metric(
        "train/episode_return",
        LAST,
        GOES_ON,
        "mean return of the training envs' newest finished episodes (NaN until one ended)",
    ),
    Metric(
        "train/nan_resets",
        LAST,
        GOES_ON,
        "running count of training env steps gone non-finite (env reset, flagged invalid)",
    ),
    Metric("train/learning", LAST, GOES_ON, "1 once warm-up is over and the updates run, else 0"),
    Metric("train/updates", LAST, GOES_ON, "running count of updates done (the agent's step)"),
    # the K updates' means (losses.py, update.py); y: the network's TD target
    Metric(
        "critic/loss",
        MEAN,
        STOPS,
        "Q: sum over the twins of the MSE to y = r + gamma d min Q_target(s', pi(s'))",
    ),
    Metric("critic/td_error", MEAN, STOPS, "Q: mean |Q(s, a) - y| over the twins and the batch"),
    Metric("critic/q", MEAN, STOPS, "Q: mean Q(s, a) over the twins and the batch"),
    Metric("critic/target", MEAN, STOPS, "Q: mean y over the batch"),
    Metric(
        "qbuf/loss", MEAN, STOPS, "Q_buffer: sum over the twins of the MSE to y = r + gamma d V(s')"
    ),
    Metric("qbuf/td_error", MEAN, STOPS, "Q_buffer: mean |Q_buffer(s, a) - y| (twins, batch)"),
    Metric("qbuf/q", MEAN, STOPS, "Q_buffer: mean Q_buffer(s, a) over the twins and the batch"),
    Metric("qbuf/target", MEAN, STOPS, "Q_buffer: mean y over the batch"),
    Metric("value/loss", MEAN, STOPS, "V: expectile loss on min Q_buffer_target(s, a)"),
    Metric("value/v", MEAN, STOPS, "V: mean V(s) over the batch"),
    Metric(
        "value/above_frac",
        MEAN,
        STOPS,
        "V: fraction of the batch where min Q_buffer_target(s, a) > V(s)",
    ),
    # actor/*: means over the updates that stepped the actor (update.averaged), but updated
    Metric(
        "actor/loss", MEAN, STOPS, "actor: -min Q(s, pi(s)) plus the weighted flow-matching term"
    ),
    Metric("actor/q", MEAN, STOPS, "actor: mean min twin Q(s, pi(s)) of the policy's actions"),
    Metric(
        "actor/w2",
        MEAN,
        STOPS,
        "actor: mean squared flow-matching residual, summed over action dims (W2^2 bound)",
    ),
    Metric(
        "actor/weight_mean",
        MEAN,
        STOPS,
        "actor: mean flow-matching weight (the exp weight of d = Q_buffer - Q(s, pi(s)))",
    ),
    Metric("actor/adv_pos_frac", MEAN, STOPS, "actor: fraction of the batch with d > 0"),
    Metric("actor/updated", MEAN, STOPS, "fraction of the K updates that stepped the actor"),
    # evaluation.py (MJX) and host_runner.evaluate (dm_control): full episodes, undiscounted
    Metric("eval/return_deterministic", MEAN, GOES_ON, "mean eval return, acting from a0 = 0"),
    Metric(
        "eval/return_deterministic_std",
        MEAN,
        GOES_ON,
        "std of eval/return_deterministic over the eval episodes",
    ),
    Metric(
        "eval/return_stochastic",
        MEAN,
        GOES_ON,
        "mean eval return, acting from a0 ~ N(0, I) (the official FlowRL protocol)",
    ),
    Metric(
        "eval/return_stochastic_std",
        MEAN,
        GOES_ON,
        "std of eval/return_stochastic over the eval episodes",
    ),
    Metric(
        "eval/nonfinite_episodes",
        MEAN,
        GOES_ON,
        "eval episodes (both protocols) ended by a non-finite step",
    ),
    # host timings: RunLog.write (run_dir.py), the dm_control backend (host_runner.py)
    Metric(
        "perf/sps",
        MEAN,
        GOES_ON,
        "env steps per second of wall time since the run began (compile included)",
    ),
    Metric(
        "perf/host_env_fraction",
        MEAN,
        GOES_ON,
        "dm_control backend: share of the epoch's wall time spent stepping dm_control",
    ),
)
METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}  # name -> its declaration
if len(METRICS) != len(_DECLARED):
    raise ValueError("a metric is declared twice")


def declared(name: str) -> Metric:
    """The declaration of `name`; UndeclaredMetric when METRICS has none."""
    try:
        return METRICS[name]
    except KeyError:
        raise UndeclaredMetric(
            f"metric {name!r} is not declared in flowrl_mjx.algorithm.metrics.METRICS; declare "
            "it there (reduce, stops_run, meaning)"
        ) from None


def keeps_last(name: str) -> bool:
    """True: a log point keeps the value of its last iteration; False: their mean."""
    return declared(name).reduce == LAST


def stops_run(name: str) -> bool:
    """True when a non-finite value of this metric stops training."""
    return declared(name).stops_run
