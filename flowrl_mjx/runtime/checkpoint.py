"""Orbax checkpoints of the whole TrainState (agent, replay, env state, keys) plus loop metadata.

Each step holds two items: `state`, the state's arrays, and `meta`, a JSON dict (epoch, wall time,
...). The arrays are stored in one of two formats, told apart by the stored entries' names:

- by name (written now): a nested dict keyed by the field names along each leaf's pytree path
  (dataclass attributes, dict keys, sequence indices), so orbax names an entry like
  `agent.params.actor...`. A field added to the state later is simply absent from older
  checkpoints: `restore_latest(..., defaults=)` takes fresh values for it, and stored entries the
  state no longer has are ignored. Both are reported on one `note:` line.
- by index (every checkpoint written before the names): a flat dict {"0": leaf0, "1": leaf1, ...}
  in `jax.tree.leaves` order. A new field shifts the indices, so these are read with the current
  layout or with one of the earlier layouts passed as `legacy=`.

Zero-size arrays (orbax refuses them, e.g. mjx Data.act of a model without activations) are not
stored in either format and come back as zeros of their shape.

Orbax writes each step to a temporary folder and renames it when complete, so an interrupted save
never replaces a good checkpoint. A checkpoint that is there but unreadable (truncated or corrupt
files, or a layout it cannot fill) is reported on one line and the previous one is used.
"""

import contextlib
import dataclasses
import logging
import os
from collections.abc import Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp

_SHOWN = 3  # field paths a note names before "and N more"


class ResumeError(ValueError):
    """A --resume that cannot continue: no readable checkpoint, or none that every seed has. The
    CLI reports it as one line (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Start:
    """Where a run's host loop starts: epochs already logged, wall seconds already spent, and
    the calls a stopped epoch had made (their metrics, so the resumed epoch logs one row equal to
    an uninterrupted one's). Fresh runs start at Start()."""

    epoch: int = 0
    wall_s: float = 0.0
    partial: tuple = ()  # one dict of host metrics per call made
    calls_done: int = 0  # == len(partial), except for the dm_control backend's older metas

    @classmethod
    def from_meta(cls, meta: dict) -> "Start":
        """From a checkpoint's meta. dm_control runs stopped before the calls' metrics were stored
        kept only their count (`partial_iters`); that epoch's row then covers the rest."""
        partial = tuple({k: np.asarray(v, np.float32) for k, v in p.items()}
                        for p in meta.get("partial", []))  # fmt: skip
        done = len(partial) or meta.get("partial_iters", 0)
        return cls(meta["epoch"], meta["wall_time"], partial, done)

    def meta(self) -> dict:
        """The checkpoint meta that from_meta reads back."""
        partial = [{k: np.asarray(v).tolist() for k, v in p.items()} for p in self.partial]
        return dict(epoch=self.epoch, wall_time=self.wall_s, partial=partial)


class Checkpoints:
    """Saves/restores `TrainState` pytrees under run_dir/checkpoints, keeping the newest `keep`."""

    def __init__(self, run_dir: str, keep: int = 2):
        self.run_dir = run_dir
        path = os.path.abspath(os.path.join(run_dir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        # Named handlers let a fresh manager read a step's metadata (which entries it holds)
        # before restoring; without them orbax cannot tell what the items are.
        handlers = dict(state=ocp.StandardCheckpointHandler(), meta=ocp.JsonCheckpointHandler())
        with _orbax_quiet():
            self._manager = ocp.CheckpointManager(path, options=options, item_handlers=handlers)

    def save(self, step: int, state, meta: dict) -> None:
        payload = _nest({names: x for names, x in _named_leaves(state) if _size(x) > 0})
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(payload), meta=ocp.args.JsonSave(meta)
        )
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()

    def steps(self) -> list:
        with _orbax_quiet():
            return sorted(self._manager.all_steps())

    def resume(self, abstract_state, at_most=None, legacy=(), defaults=None):
        """restore_latest for --resume: (state, meta), or ResumeError when there is nothing to
        continue from."""
        found = self.restore_latest(abstract_state, at_most, legacy, defaults)
        if found is None:
            where = f"{self.run_dir}/checkpoints" + (f" at step <= {at_most}" if at_most else "")
            raise ResumeError(f"--resume: no readable checkpoint in {where}")
        return found

    def restore_latest(self, abstract_state, at_most=None, legacy=(), defaults=None):
        """(state, meta) from the newest readable checkpoint (of step <= at_most if given), or
        None if there is none.

        abstract_state: a pytree of jax.ShapeDtypeStruct (jax.eval_shape of the init).
        legacy: (old abstract state, upgrade) pairs of earlier layouts of the state, tried in turn
        on a checkpoint the current layout cannot read; upgrade(old state) -> current state. Index
        checkpoints need them (a new field shifts every index); name checkpoints read with them
        only where the current layout fails.
        defaults: None, or a callable returning a concrete state of the current layout (e.g. the
        init); a name checkpoint that lacks some of the current fields takes them from it (called
        at most once, only then). Without it such a checkpoint is unreadable.
        """
        steps = [s for s in self.steps() if at_most is None or s <= at_most]
        for step in reversed(steps):
            try:
                with _orbax_quiet():
                    restored = self._restore_step(step, abstract_state, legacy, defaults)
            except Exception as e:  # orbax/tensorstore raise many types for bad files
                msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                print(f"warning: checkpoint {step} is unreadable ({msg}); trying an older one")
                continue
            state, meta, notes = restored
            for line in notes:
                print(line)
            return state, meta
        return None

    def _restore_step(self, step: int, abstract_state, legacy, defaults):
        """(state, meta, note lines) of one step in whichever format it holds; raises the current
        layout's complaint when no layout reads it."""
        stored = self._stored_entries(step)
        layouts = [(abstract_state, lambda state: state), *legacy]
        errors = []
        for i, (abstract, upgrade) in enumerate(layouts):
            try:
                if _by_index(stored):
                    state, meta = self._restore_by_index(step, abstract)
                    notes = []
                else:  # defaults are states of the current layout: not for an earlier one
                    fill = defaults if i == 0 else None
                    state, meta, notes = self._restore_by_name(step, abstract, stored, fill)
                return upgrade(state), meta, notes
            except Exception as e:  # as above: a layout that does not fit fails in many ways
                errors.append(e)
        raise errors[0]

    def _stored_entries(self, step: int) -> dict:
        """{name path: orbax array metadata} of the arrays a step holds (read without them)."""
        meta = self._manager.item_metadata(step)["state"]
        if meta is None:
            raise ValueError("no state metadata")
        return _flat(getattr(meta, "tree", meta))

    def _restore_by_index(self, step: int, abstract_state):
        leaves, treedef = jax.tree.flatten(abstract_state)
        out = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_non_empty(leaves)),
            meta=ocp.args.JsonRestore()))  # fmt: skip
        full = [out.state.get(str(i), np.zeros(a.shape, a.dtype)) for i, a in enumerate(leaves)]
        _check_shapes(full, leaves)
        return jax.tree.unflatten(treedef, full), out.meta

    def _restore_by_name(self, step: int, abstract_state, stored: dict, defaults):
        named = _named_leaves(abstract_state)
        wanted = {names: a for names, a in named if _size(a) > 0}
        _check_stored_shapes(wanted, stored)
        missing = [names for names in wanted if names not in stored]
        current = {names for names, _ in named}
        unused = [names for names in stored if names not in current]
        present = [names for names in wanted if names in stored]
        if missing and defaults is None:
            raise ValueError(
                f"it has no {_listing(_fields(missing, present))}: fields added since it was "
                "written; restore with defaults= to start them fresh"
            )
        # StandardRestore wants the stored tree whole, so unused entries are read too (and
        # dropped); they are the few arrays of fields that were removed.
        target = {names: wanted[names] for names in present}
        target |= {names: jax.ShapeDtypeStruct(stored[names].shape, stored[names].dtype)
                   for names in unused}  # fmt: skip
        out = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_nest(target)),
            meta=ocp.args.JsonRestore()))  # fmt: skip
        got = _flat(out.state)
        fresh = dict(_named_leaves(defaults())) if missing else {}
        full = [_pick(names, a, got, fresh) for names, a in named]
        _check_shapes(full, [a for _, a in named])
        treedef = jax.tree.structure(abstract_state)
        notes = []
        if missing:
            fields = _listing(_fields(missing, present))
            notes.append(f"note: checkpoint {step} has no {fields}: fresh values used")
        if unused:
            fields = _listing(_fields(unused, [names for names, _ in named]))
            notes.append(f"note: checkpoint {step} holds entries no longer used: {fields}")
        return jax.tree.unflatten(treedef, full), out.meta, notes

    def close(self):
        self._manager.close()


def _key_name(entry) -> str:
    """One pytree path entry as a name: dataclass attribute, dict key or sequence index."""
    for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey / FlattenedIndexKey, SequenceKey
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _named_leaves(tree) -> list:
    """[(name path, leaf)] in `jax.tree.leaves` order; two leaves of one name (dict keys 1 and "1")
    would overwrite each other on disk, so they are refused."""
    pairs = [(tuple(_key_name(k) for k in path), x)
             for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]]  # fmt: skip
    if len({names for names, _ in pairs}) != len(pairs):
        raise ValueError("two state leaves have the same name path")
    return pairs


def _nest(flat: dict) -> dict:
    """{name path: leaf} -> nested dicts, the tree orbax stores."""
    out = {}
    for names, x in flat.items():
        node = out
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = x
    return out


def _flat(tree, prefix=()) -> dict:
    """Nested dicts -> {name path: leaf}: the inverse of `_nest`."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out = {}
    for name, sub in tree.items():
        out |= _flat(sub, (*prefix, str(name)))
    return out


def _by_index(stored: dict) -> bool:
    """Whether a step holds the index format: a flat dict of "0", "1", ... Name paths never look
    like that unless the state itself is a flat sequence of arrays, where both formats agree."""
    return all(len(names) == 1 and names[0].isdigit() for names in stored)


def _pick(names, abstract, got: dict, fresh: dict):
    if _size(abstract) == 0:
        return np.zeros(abstract.shape, abstract.dtype)
    if names in got:
        return got[names]
    if names not in fresh:
        raise ValueError(f"defaults() has no {'.'.join(names)}")
    return fresh[names]


def _fields(paths: list, others: list) -> list:
    """Groups `paths` by field: each becomes its shortest prefix that no path of `others` shares,
    so a field added (or removed) whole is one entry. Deduplicated, in order."""
    taken = {o[:k] for o in others for k in range(1, len(o) + 1)}
    groups = []
    for names in paths:
        group = next((names[:k] for k in range(1, len(names) + 1) if names[:k] not in taken), names)
        if group not in groups:
            groups.append(group)
    return [".".join(g) for g in groups]


def _listing(fields: list) -> str:
    shown = ", ".join(fields[:_SHOWN])
    rest = len(fields) - _SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def _size(x) -> int:
    return int(np.prod(np.shape(x)))


def _non_empty(leaves) -> dict:
    """Orbax refuses zero-size arrays (e.g. mjx Data.act of a model without activations)."""
    return {str(i): x for i, x in enumerate(leaves) if np.prod(x.shape) > 0}


def _check_stored_shapes(wanted: dict, stored: dict):
    """A stored entry of another shape than the current layout's makes the checkpoint unreadable
    (checked from the metadata, before any array is read)."""
    for names, a in wanted.items():
        if names in stored and tuple(stored[names].shape) != tuple(a.shape):
            got, want = tuple(stored[names].shape), tuple(a.shape)
            raise ValueError(f"{'.'.join(names)}: shape {got} != expected {want}")


def _check_shapes(state, abstract):
    got, want = jax.tree.leaves(state), jax.tree.leaves(abstract)
    if len(got) != len(want):
        raise ValueError(f"{len(got)} arrays, expected {len(want)}")
    for g, w in zip(got, want, strict=True):
        if np.shape(g) != tuple(w.shape):
            raise ValueError(f"shape {np.shape(g)} != expected {tuple(w.shape)}")


@contextlib.contextmanager
def _orbax_quiet():
    """Orbax logs an ERROR with a traceback-sized message for every unreadable file it meets; the
    fallback above reports each unreadable checkpoint on one line instead."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
