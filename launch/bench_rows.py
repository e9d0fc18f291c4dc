"""Row bookkeeping of launch/bench_envs.py, kept free of flags so that tests can import it
beside other launch scripts (absl flags are process-wide)."""


def merge(rows: list, new: list) -> list:
    """`rows` with each new row in place of the row of the same task and batch, or else after
    the last row of its task (appended for a new task)."""
    rows = list(rows)
    for r in new:
        same_task = [i for i, old in enumerate(rows) if old["task"] == r["task"]]
        same = [i for i in same_task if rows[i]["batch"] == r["batch"]]
        if same:
            rows[same[0]] = r
        else:
            rows.insert(same_task[-1] + 1 if same_task else len(rows), r)
    return rows


def per_env_s(saved, below: int):
    """Seconds per env of a call at the largest measured batch under `below` (None: none)."""
    timed = [r for r in saved if "control_sps" in r and r["batch"] < below]
    return 1.0 / max(timed, key=lambda r: r["batch"])["control_sps"] if timed else None
