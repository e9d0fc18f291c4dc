"""Task registry: every domain module of this package exports TASKS = {task: class}.

Tasks are named as dm_control's (domain, task) joined by "_". A module may also export
UNSUPPORTED = {"domain_task": reason} for a suite task it cannot run under MJX; such tasks are
not listed.
"""

import difflib
import functools
import importlib
import pkgutil

# The tasks of the FlowRL paper, then cheetah_run: the first ones every change must keep working.
PAPER_TASKS = (
    "walker_run", "walker_stand", "quadruped_walk", "humanoid_run", "humanoid_walk",
    "dog_run", "dog_trot", "dog_stand", "dog_walk", "cheetah_run",
)  # fmt: skip

_NOT_DOMAINS = {"base", "physics", "rewards", "randomizers", "registry", "named", "model_io",
                "wrappers", "parity"}  # fmt: skip


@functools.cache
def _domain_modules():
    import envs

    mods = []
    for info in pkgutil.iter_modules(envs.__path__):
        if info.name.startswith("_") or info.name in _NOT_DOMAINS:
            continue
        mod = importlib.import_module(f"envs.{info.name}")
        if hasattr(mod, "TASKS") or hasattr(mod, "UNSUPPORTED"):
            mods.append(mod)
    return mods


@functools.cache
def _table() -> dict:
    table = {}
    for mod in _domain_modules():
        for task, cls in getattr(mod, "TASKS", {}).items():
            table[f"{cls.domain}_{task}"] = cls
    return table


def unsupported() -> dict:
    """{task name: reason} for dm_control suite tasks that are not offered."""
    out = {}
    for mod in _domain_modules():
        out.update(getattr(mod, "UNSUPPORTED", {}))
    return out


def names() -> list:
    """Task names (dm_control's domain and task joined by '_'): PAPER_TASKS first, then the rest
    sorted."""
    table = _table()
    return [t for t in PAPER_TASKS if t in table] + sorted(set(table) - set(PAPER_TASKS))


def get_class(name: str):
    table = _table()
    if name not in table:
        why = unsupported().get(name)
        if why:
            raise ValueError(f"task {name!r} is not supported under MJX: {why}")
        close = difflib.get_close_matches(name, table, n=5, cutoff=0.4)
        hint = (
            f"did you mean: {', '.join(close)}?" if close else f"valid: {', '.join(sorted(table))}"
        )
        raise ValueError(f"unknown task {name!r}; {hint}")
    return table[name]


def load(name: str, **overrides):
    """Builds the task `name` (see names()); overrides are checked by the task's constructor."""
    return get_class(name)(**overrides)
