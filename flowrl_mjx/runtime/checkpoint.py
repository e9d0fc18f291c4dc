"""Orbax checkpoints of the whole TrainState (agent, replay, env state, keys) plus loop metadata.

Orbax writes each step to a temporary folder and renames it when complete, so an interrupted save
never replaces a good checkpoint. A checkpoint that is there but unreadable (truncated or corrupt
files) is reported on one line and the previous one is used.
"""

import contextlib
import logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp


class ResumeError(ValueError):
    """A --resume that cannot continue: no readable checkpoint, or none that every seed has. The
    CLI reports it as one line (exit 2)."""


class Checkpoints:
    """Saves/restores `TrainState` pytrees under run_dir/checkpoints, keeping the newest `keep`."""

    def __init__(self, run_dir: str, keep: int = 2):
        path = os.path.abspath(os.path.join(run_dir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        with _orbax_quiet():
            self._manager = ocp.CheckpointManager(path, options=options)

    def save(self, step: int, state, meta: dict) -> None:
        payload = _non_empty(jax.tree.leaves(state))
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(payload), meta=ocp.args.JsonSave(meta)
        )
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()

    def steps(self) -> list:
        with _orbax_quiet():
            return sorted(self._manager.all_steps())

    def restore_latest(self, abstract_state, at_most=None, legacy=()):
        """(state, meta) from the newest readable checkpoint (of step <= at_most if given), or
        None if there is none.

        abstract_state: a pytree of jax.ShapeDtypeStruct (jax.eval_shape of the init).
        legacy: (old abstract state, upgrade) pairs of earlier layouts of the state, tried in turn
        on a checkpoint the current layout cannot read; upgrade(old state) -> current state. Leaves
        are stored by index, so a new field shifts them: this keeps older runs resumable.
        """
        layouts = [(abstract_state, lambda state: state), *legacy]
        steps = [s for s in self.steps() if at_most is None or s <= at_most]
        for step in reversed(steps):
            errors = []
            for abstract, upgrade in layouts:
                try:
                    with _orbax_quiet():
                        state, meta = self._restore(step, abstract)
                    return upgrade(state), meta
                except Exception as e:  # orbax/tensorstore raise many types for bad files
                    errors.append(e)
            e = errors[0]  # the current layout's complaint
            msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            print(f"warning: checkpoint {step} is unreadable ({msg}); trying an older one")
        return None

    def _restore(self, step: int, abstract_state):
        leaves, treedef = jax.tree.flatten(abstract_state)
        out = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_non_empty(leaves)),
            meta=ocp.args.JsonRestore()))  # fmt: skip
        full = [out.state.get(str(i), np.zeros(a.shape, a.dtype)) for i, a in enumerate(leaves)]
        _check_shapes(full, leaves)
        return jax.tree.unflatten(treedef, full), out.meta

    def close(self):
        self._manager.close()


def _non_empty(leaves) -> dict:
    """Orbax refuses zero-size arrays (e.g. mjx Data.act of a model without activations)."""
    return {str(i): x for i, x in enumerate(leaves) if np.prod(x.shape) > 0}


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
