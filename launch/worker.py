"""A launch script's jobs in a child process (`python -m <module> --worker`), with time limits.

A compile can take longer than anyone will wait, or hang, and XLA cannot stop it from inside: only
killing its process does. So the parent sends jobs (JSON lines on the child's stdin), reads the
child's progress (`phase` messages) and its rows (`done`), and kills the child past a limit; the
row then says which phase ran out of time. compile_profile keeps one child for many jobs (a new
one after a kill); compile_table starts one per job.
"""

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from typing import Callable

MSG = "@@launch.worker "  # prefix of the child's messages on its stdout (libraries print too)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository root


# ----- the child -----
def send(kind: str, **data) -> None:
    """One message to the parent: `phase` (phase=name, data=fields of the row so far) or `done`."""
    print(MSG + json.dumps(dict(type=kind, **data)), flush=True)


def error_row(e: Exception) -> dict:
    """A failing job is a row (the run goes on): the exception's line and where it was raised."""
    where = traceback.format_exc().strip().splitlines()[-3:]
    return dict(status="error", note=f"{type(e).__name__}: {e}"[:1000], traceback=where)


def serve(run: Callable[[dict], dict]) -> None:
    """The child's loop: `run(job)` for each job on stdin, its row sent as `done`; exits at end
    of input. The caller does its own setup (jax config, imports) before."""
    for line in sys.stdin:
        job = json.loads(line)
        try:
            row = run(job)
        except Exception as e:  # noqa: BLE001
            row = error_row(e)
        jax = sys.modules.get("jax")
        if jax is not None:  # the next job compiles from scratch, and memory does not pile up
            jax.clear_caches()
        send("done", row=row)


# ----- the parent -----
def _wait_s(deadline: float) -> float | None:
    """queue.get's timeout until a perf_counter deadline (None: no limit)."""
    return None if math.isinf(deadline) else max(deadline - time.perf_counter(), 0.0)


class Worker:
    """A `python -m <module> --worker` child. `run` returns a job's row, or a timed_out / error row
    after killing it (then `alive` is False and the caller starts another). `phase` is the last
    phase the child reported for the last job ("start" before any)."""

    def __init__(self, module: str, root: str = ROOT):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=root,
            env=env,
        )
        self.messages = queue.Queue()
        self.alive = True
        self.phase = "start"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(MSG):
                self.messages.put(json.loads(line[len(MSG) :]))
            else:  # anything else the child's libraries print
                sys.stderr.write(line)
        self.messages.put(None)

    def run(self, job: dict, limit_s: float = math.inf, job_limit_s: float = math.inf) -> dict:
        """The job's row; `limit_s` bounds each phase, `job_limit_s` the whole job."""
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        row, self.phase = {}, "start"
        t_job = t_phase = time.perf_counter()
        while True:
            try:
                msg = self.messages.get(
                    timeout=_wait_s(min(t_phase + limit_s, t_job + job_limit_s))
                )
            except queue.Empty:
                self.kill()
                now = time.perf_counter()
                return dict(
                    row,
                    status="timed_out",
                    phase=self.phase,
                    phase_s=now - t_phase,
                    elapsed_s=now - t_job,
                )
            if msg is None:
                self.kill()
                return dict(
                    row,
                    status="error",
                    phase=self.phase,
                    elapsed_s=time.perf_counter() - t_job,
                    note=f"worker exited (code {self.proc.returncode}) during {self.phase}",
                )
            if msg["type"] == "phase":
                self.phase, t_phase = msg["phase"], time.perf_counter()
                row.update(msg.get("data", {}))
            else:
                return dict(row, **msg["row"], elapsed_s=time.perf_counter() - t_job)

    def kill(self) -> None:
        self.alive = False
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """End of input: the child exits after its last job (killed if it does not in 60 s)."""
        if self.alive:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.alive = False
