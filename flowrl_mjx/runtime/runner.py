"""The host loop of every run, whichever backend steps its envs: evaluate, log, checkpoint,
resume, stop cleanly.

Nothing here runs inside the training program; per call the host reads a few scalars, per epoch
(log point) it reduces them, evaluates, logs and, every `checkpoint_every` epochs (and on
SIGINT/SIGTERM, and at the end), has the backend save everything needed to continue: the learner
(agent, replay, keys), the envs where the backend can, and the loop's own state. The backend
(`Backend`: runtime/mjx_backend.py or dmc_backend/host_runner.py) says where the envs live and
how they step; evaluation order, the non-finite stop, logging, checkpoint cadence and resume are
written here once.
`run` returns its status line rather than exiting, so Python callers keep control; the CLI
(flowrl_mjx.launch) turns it into the process's exit code (`exit_code`).
"""

import signal
import time
from typing import Protocol

import jax
import numpy as np

from flowrl_mjx.algorithm import metrics as metric_rules
from flowrl_mjx.algorithm import train
from flowrl_mjx.runtime import checkpoint, mjx_backend, run_dir
from flowrl_mjx.runtime.run_config import RunConfig


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop saves and exits after the current call."""

    def __init__(self):
        self.signal = None
        self._previous = {s: signal.signal(s, self._set) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _set(self, signum, _frame):
        self.signal = signal.Signals(signum).name


class Backend(Protocol):
    """What the loop needs from a backend: where the envs live and how they step.

    Two exist: runtime/mjx_backend.py (envs inside the jitted program; S seeds vmapped) and
    dmc_backend/host_runner.py (dm_control envs on the host, one jitted learner call per
    iteration). Member i is seed run.seed + i; metrics carry a leading seed axis when n > 1.
    """

    n: int  # members (seeds)
    dirs: list  # each member's run dir
    runs: list  # each member's RunConfig (what its config.json stores)
    record: dict  # extra config.json entries (the record of where it ran)
    calls_per_epoch: int  # calls per log point

    def compile_line(self, resume: bool) -> str: ...  # printed before the first call

    def has_checkpoint(self) -> bool: ...

    def model(self): ...  # what RunLog saves as model.mjb (has .mj_model)

    def start(self, resume: bool) -> checkpoint.Start: ...  # fresh, or where a checkpoint left off

    @property
    def env_steps(self) -> int: ...

    def call(self) -> dict: ...  # one call's metrics on the host

    def evaluate(self, epoch: int) -> dict: ...  # eval/* on the host

    def save(self, meta: dict) -> None: ...  # checkpoints and policy files of every member

    def close(self) -> None: ...


class _Pace:
    """Env steps/s and updates/s since the end of the first call that learned (so neither the
    compile nor the warm-up's update-free calls are in the ETA), and the one early progress line
    a long first epoch gets."""

    EARLY_S = 20.0  # seconds of timed calls before the early line (a first sign within ~a minute)

    def __init__(self):
        self.t0 = self.steps0 = self.updates0 = None
        self.early_done = False

    def start(self, env_steps: int, updates: float) -> None:
        """Starts the clock at the first learning call (later calls leave it)."""
        if self.t0 is None:
            self.t0, self.steps0, self.updates0 = time.time(), env_steps, updates

    def rates(self, env_steps: int, updates: float):
        """(env steps/s, updates/s) over the timed calls, or None before two ticks."""
        dt = time.time() - self.t0 if self.t0 is not None else 0.0
        if dt <= 0 or env_steps <= self.steps0:
            return None
        return (env_steps - self.steps0) / dt, (updates - self.updates0) / dt

    def skip(self, seconds: float) -> None:
        """Leaves `seconds` out of the timed span: the first evaluation, which compiles its
        program (at a first log point only a few calls after the warm-up, that compile would
        otherwise dominate the first ETA)."""
        if self.t0 is not None:
            self.t0 += seconds

    def early_due(self) -> bool:
        return not self.early_done and self.t0 is not None and time.time() - self.t0 >= self.EARLY_S


def make_backend(run: RunConfig, env, out: str, resume: bool) -> Backend:
    """The run's backend (dm_control's is imported only when asked for: it loads dm_control)."""
    if run.backend == "dm_control":
        from flowrl_mjx.dmc_backend import host_runner

        return host_runner.DmcBackend(run, env, out, resume)
    return mjx_backend.MjxBackend(run, env, out, resume)


def run(run: RunConfig, env, out: str, resume: bool) -> str:
    """Trains to run.total_env_steps; returns the status also written to summary.json:
    'finished', 'interrupted by SIG...' or 'stopped: ...' (see `exit_code`). The final log rows
    are in each run dir's metrics.jsonl and summary.json.

    The backend's program runs one call at a time; an epoch's log point combines its calls
    (train.reduce_iterations). SIGINT/SIGTERM stop the run after the current call: a stop inside
    an epoch saves a checkpoint there with the epoch's calls so far, and --resume completes the
    epoch as an uninterrupted run would have.

    resume: continue from the newest checkpoint, or from zero when the run has none yet.
    """
    backend = make_backend(run, env, out, resume)
    try:
        if resume and not backend.has_checkpoint():
            print(run_dir.restart_line(out), flush=True)
            resume = False
        print(backend.compile_line(resume), flush=True)
        status, finals = _loop(run, backend, out, resume)
    finally:
        backend.close()
    if backend.n > 1:
        finals = {r.seed: last for r, last in zip(backend.runs, finals, strict=True)}
        run_dir.write_json(out, "summary.json", dict(status=status, final=finals))
    print(status, flush=True)
    return status


def _loop(run: RunConfig, backend: Backend, out: str, resume: bool) -> str:
    t_compile = time.time()
    begin = backend.start(resume)
    epoch, parts, done = begin.epoch, list(begin.partial), begin.calls_done
    if resume:
        print(resumed_line(out, backend.env_steps, epoch), flush=True)
    steps0 = backend.env_steps if resume else None
    model = None if resume else backend.model()
    logs = [run_dir.RunLog(d, r, model, resume_steps=steps0, record=backend.record)
            for d, r in zip(backend.dirs, backend.runs, strict=True)]  # fmt: skip
    per_epoch = run.loop.num_envs * run.loop.iters_per_epoch
    n_epochs = -(-run.total_env_steps // per_epoch)
    stop, start, pace = StopFlag(), time.time() - begin.wall_s, _Pace()
    status, first, evaluated = "finished", True, False
    try:
        while epoch < n_epochs:
            parts.append(backend.call())
            done += 1
            lead = _rows(parts[-1], backend.n)[0]
            if first:
                took = time.time() - t_compile
                print(f"compiled: the first call took {took:.1f} s" if resume else
                      f"compiled: the env reset and the first call took {took:.1f} s",
                      flush=True)  # fmt: skip
                first = False
            updates = lead.get("train/updates", 0.0)
            if lead.get("train/learning", 1.0) > 0:  # warm-up calls would flatter the ETA
                pace.start(backend.env_steps, updates)
            if done < backend.calls_per_epoch:
                if pace.early_due():
                    rates = pace.rates(backend.env_steps, updates)
                    if rates:
                        pace.early_done = True
                        eta = _eta(run, backend.env_steps, rates)
                        _early_line(backend, parts[-1], rates, eta)
                        _warn_if_long(run, eta)
                if stop.signal:
                    backend.save(_meta(epoch, start, parts))
                    status = interrupted(stop.signal)
                    break
                continue
            metrics = train.reduce_iterations({k: np.stack([p[k] for p in parts])
                                               for k in parts[0]})  # fmt: skip
            parts, done = [], 0
            bad = _non_finite(_rows(metrics, backend.n))
            if bad:
                status = f"stopped: non-finite {bad} at epoch {epoch}; last good checkpoint kept"
                break
            if (epoch + 1) % run.eval_every == 0 or epoch + 1 == n_epochs:
                t_eval = time.time()
                metrics.update(backend.evaluate(epoch))
                if not evaluated:
                    pace.skip(time.time() - t_eval)
                    evaluated = True
            rows = _rows(metrics, backend.n)
            rates = pace.rates(backend.env_steps, updates)
            if not pace.early_done and rates:
                _warn_if_long(run, _eta(run, backend.env_steps, rates))
            pace.early_done = True
            shown = run_dir.seed_means(rows) if len(rows) > 1 else None
            for j, (log, row) in enumerate(zip(logs, rows, strict=True)):
                log.write(backend.env_steps, row, start, run.total_env_steps, echo=j == 0,
                          rates=rates, shown=shown)  # fmt: skip
            _echo_seeds(rows)
            epoch += 1
            if stop.signal or epoch == n_epochs or epoch % run.checkpoint_every == 0:
                backend.save(_meta(epoch, start, []))
            if stop.signal:
                status = interrupted(stop.signal)
                break
    finally:
        stop.restore()
    for log in logs:
        log.close(status=status)
    return status, [log.last for log in logs]


def interrupted(signal_name: str) -> str:
    return f"interrupted by {signal_name}; checkpoint saved, continue with --resume"


def _rows(metrics: dict, n: int) -> list:
    """Per-member dicts of floats (host metrics carry a leading seed axis when n > 1)."""
    if n == 1:
        return [{k: float(v) for k, v in metrics.items()}]
    return [{k: float(v[i]) for k, v in metrics.items()} for i in range(n)]


LONG_CPU_RUN_S = 3 * 3600  # a run longer than this on a CPU gets one line naming a smaller one


def long_run_line(task: str, preset: str, eta_s: float, platform: str) -> str:
    """'' or, on a CPU whose measured pace puts the run beyond LONG_CPU_RUN_S, one line saying so
    and naming the CPU-sized command (the cpu preset: 128 envs, 128-wide networks)."""
    if platform != "cpu" or eta_s <= LONG_CPU_RUN_S or preset == "cpu":
        return ""
    return (
        f"note: at this pace the run needs ~{eta_s / 3600:.1f} h more on this CPU; the "
        f"CPU-sized recipe is: python -m flowrl_mjx.launch --task {task} --preset cpu"
    )


def _warn_if_long(run: RunConfig, eta_s):
    line = long_run_line(run.task, run.preset, eta_s, jax.default_backend())
    if line:
        print(line, flush=True)


def _early_line(backend, part, rates, eta) -> None:
    """The progress line inside a long first epoch (no eval yet: the train return so far)."""
    shown = run_dir.seed_means(_rows(part, backend.n))
    line = run_dir.progress_line(
        backend.env_steps, rates[0], shown.metrics, eta, rates[1], shown.seeds
    )
    print(line, flush=True)


def _eta(run: RunConfig, env_steps: int, rates) -> float:
    return (run.total_env_steps - env_steps) / max(rates[0], 1e-9)


def _meta(epoch: int, start: float, parts: list) -> dict:
    """A checkpoint's loop state (checkpoint.Start): completed epochs, wall time, and the calls of
    the epoch in progress."""
    return checkpoint.Start(epoch, time.time() - start, tuple(parts), len(parts)).meta()


def resumed_line(out: str, env_steps: int, epoch: int) -> str:
    """The line a resumed run prints: where it continues from."""
    return f"resumed {out} from its checkpoint at env step {env_steps:,} (epoch {epoch})"


def exit_code(status: str) -> int:
    """The CLI's exit code for a run's status: 0 finished; 128 + the signal's number when
    interrupted (130 SIGINT, 143 SIGTERM: what a shell reports for a process the signal killed,
    so scripts see the run did not finish); 1 stopped on an error."""
    if status == "finished":
        return 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        if status.startswith(f"interrupted by {sig.name}"):
            return 128 + sig.value
    return 1


def _non_finite(rows) -> str:
    """'' or the non-finite metrics that stop a run (flowrl_mjx.algorithm.metrics.stops_run)."""
    bad = [f"{k}" + (f" (seed index {j})" if len(rows) > 1 else "")
           for j, row in enumerate(rows) for k, v in row.items()
           if metric_rules.stops_run(k) and not np.isfinite(v)]  # fmt: skip
    return ", ".join(bad)


def _echo_seeds(rows):
    line = seed_returns_line(rows)
    if line:
        print(line, flush=True)


def seed_returns_line(rows) -> str:
    """'' for one seed, else each protocol's eval return per seed, stochastic (the official
    FlowRL protocol) first, as the progress line orders them."""
    if len(rows) < 2:
        return ""
    parts = [f"{label} {[round(r[k], 1) for r in rows]}"
             for label, k in (("stochastic (official protocol)", "eval/return_stochastic"),
                              ("deterministic", "eval/return_deterministic"))
             if k in rows[0]]  # fmt: skip
    return f"  eval return per seed: {' '.join(parts)}" if parts else ""
