"""What every benchmark records beside its figures: machine, device, versions, date, command."""

import json
import os
import sys
import time

from flowrl_mjx.runtime.machine import machine_info  # noqa: F401  (launch scripts import it from here)


def header(info: dict) -> str:
    return (f"Measured {info['date']} on {info['device']} ({info['platform']}, "
            f"{info['cpu_cores']} CPU cores), command `{info['command']}`.\n")  # fmt: skip


def write_json_md(base: str, doc: dict, markdown: str) -> None:
    """`base`.json (the figures, indented) and `base`.md (their table); makes the folder."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(markdown)


def load_task(task: str):
    """envs.load(task), or one clear line and exit code 2 for a name envs does not know."""
    import envs

    if task not in envs.names():
        print(f"error: unknown task {task} (see envs.names())", file=sys.stderr)
        sys.exit(2)
    return envs.load(task)


def seconds_per_call(fn, *args, seconds: float, min_calls: int = 2):
    """(seconds per call, calls, the first call's seconds with its compile, its output): calls
    `fn` once, then again until `seconds` have passed and at least `min_calls` were timed."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or calls < min_calls:
        jax.block_until_ready(fn(*args))
        calls += 1
    return (time.perf_counter() - t0) / calls, calls, first, out
