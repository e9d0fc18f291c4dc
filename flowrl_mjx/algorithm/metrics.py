"""Metric names and the two rules each carries: how a log point reduces it over the iterations
(or calls) it spans, and whether a non-finite value stops the run. The rules live here only;
train.reduce_iterations, the runners' non-finite checks and host_runner's epoch read them.

Names are "<group>/<name>":
- train/*: the env side of training. A log point keeps the value of its last iteration: running
  counts (train/updates, train/nan_resets), the flag train/learning, the newest finished
  episodes' return (train/episode_return, NaN until an episode has ended). train/reward, the
  mean reward per env step, is averaged instead. Non-finite values are expected (no episode has
  ended yet) and never stop a run.
- eval/*: evaluation returns. A diverged policy's NaN return is a symptom; the losses name the
  cause, so eval/* never stops a run either.
- perf/*: timings measured on the host; never stop a run.
- everything else (critic/*, qbuf/*, value/*, actor/*): the K updates' losses and diagnostics,
  averaged over iterations (actor/* first over the updates where the actor stepped, in
  update._averaged); a non-finite value stops the run, keeping the last good checkpoint.
"""

_LAST_GROUP = "train/"
_AVERAGED_ANYWAY = ("train/reward",)
_NEVER_STOP = ("train/", "eval/", "perf/")


def keeps_last(name: str) -> bool:
    """True: a log point keeps the value of its last iteration; False: their mean."""
    return name.startswith(_LAST_GROUP) and name not in _AVERAGED_ANYWAY


def stops_run(name: str) -> bool:
    """True when a non-finite value of this metric stops training."""
    return not name.startswith(_NEVER_STOP)
