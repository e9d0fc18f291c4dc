"""Checkpoints: stored by field name, fresh values for fields added since, the index format of
earlier runs, and the fallback past an unreadable newest step."""

import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from flowrl_mjx.runtime import checkpoint

META = dict(epoch=3, wall_time=1.5, partial=[{"x": [1.0, 2.0]}])


@flax.struct.dataclass
class Inner:
    w: jnp.ndarray
    act: jnp.ndarray  # zero-size, like mjx Data.act of a model without activations


@flax.struct.dataclass
class StateV1:
    a: jnp.ndarray
    b: dict


@flax.struct.dataclass
class StateV2:  # StateV1 with a field added after its checkpoints were written
    a: jnp.ndarray
    b: dict
    c: dict


def _v1(scale=1.0):
    inner = Inner(w=scale * jnp.arange(6.0).reshape(2, 3), act=jnp.zeros((0,)))
    b = {"inner": inner, "step": jnp.int32(7), "seq": [jnp.ones(2), scale * jnp.full(3, 2.0)]}
    return StateV1(a=scale * jnp.arange(4.0), b=b)


def _v2(v1):
    return StateV2(a=v1.a, b=v1.b, c={"mean": jnp.full(3, 5.0), "count": jnp.float32(9.0)})


def _abstract(state):
    return jax.eval_shape(lambda: state)


def _assert_same(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def _entries(run_dir, step) -> set:
    """The name paths of the arrays orbax stored for a step, read from its metadata."""
    path = os.path.join(run_dir, "checkpoints", str(step), "state")
    tree = ocp.StandardCheckpointHandler().metadata(epath.Path(path))
    tree = getattr(tree, "tree", tree)
    return {tuple(str(k.key) for k in p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _save_by_index(run_dir, step, state, meta):
    """A checkpoint as Checkpoints.save wrote it before the names: leaves by index."""
    path = os.path.abspath(os.path.join(run_dir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
    manager = ocp.CheckpointManager(path, options=options)
    payload = {str(i): x for i, x in enumerate(jax.tree.leaves(state)) if np.prod(x.shape) > 0}
    args = ocp.args.Composite(state=ocp.args.StandardSave(payload), meta=ocp.args.JsonSave(meta))
    manager.save(step, args=args, force=True)
    manager.wait_until_finished()
    manager.close()


def test_round_trip_by_field_name(tmp_path):
    state = _v1()
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, state, META)
    names = {("a",), ("b", "inner", "w"), ("b", "step"), ("b", "seq", "0"), ("b", "seq", "1")}
    assert _entries(tmp_path, 5) == names  # the zero-size b.inner.act is left out
    restored, meta = ckpts.restore_latest(_abstract(state))
    ckpts.close()
    assert meta == META
    _assert_same(restored, state)
    assert restored.b["inner"].act.shape == (0,)


def test_field_added_since_comes_from_defaults(tmp_path, capsys):
    old = _v1(scale=3.0)
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, old, META)
    fresh = _v2(_v1(scale=-1.0))  # what the current init would give: a, b differ from disk
    calls = []

    def defaults():
        calls.append(1)
        return fresh

    restored, meta = ckpts.restore_latest(_abstract(fresh), defaults=defaults)
    assert meta == META and len(calls) == 1
    _assert_same(restored, StateV2(a=old.a, b=old.b, c=fresh.c))
    out = capsys.readouterr().out
    # c's two arrays are one entry: the field, not its leaves
    assert out == "note: checkpoint 5 has no c: fresh values used\n"

    # without defaults the checkpoint is unreadable, said on the warning line
    assert ckpts.restore_latest(_abstract(fresh)) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("warning: checkpoint 5 is unreadable (it has no c:")


def test_name_checkpoint_of_an_earlier_layout_reads_with_legacy(tmp_path, capsys):
    """The runners pass `legacy=` (the layouts from before a field) and no defaults: a name
    checkpoint that lacks the field is then read as that layout and upgraded."""
    old = _v1(scale=2.0)
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, old, META)
    fresh = _v2(_v1(scale=-1.0))
    legacy = [(_abstract(old), lambda s: StateV2(a=s.a, b=s.b, c=fresh.c))]
    restored, _ = ckpts.restore_latest(_abstract(fresh), legacy=legacy)
    _assert_same(restored, StateV2(a=old.a, b=old.b, c=fresh.c))
    assert capsys.readouterr().out == ""


def test_defaults_are_not_called_when_nothing_is_missing(tmp_path, capsys):
    state = _v2(_v1())
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, state, META)

    def defaults():
        raise AssertionError("called")

    restored, _ = ckpts.restore_latest(_abstract(state), defaults=defaults)
    _assert_same(restored, state)
    assert capsys.readouterr().out == ""


def test_removed_field_is_ignored_and_named(tmp_path, capsys):
    state = _v2(_v1())
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, state, META)
    restored, _ = ckpts.restore_latest(_abstract(_v1()))
    _assert_same(restored, StateV1(a=state.a, b=state.b))
    assert capsys.readouterr().out == "note: checkpoint 5 holds entries no longer used: c\n"


def test_note_lists_three_fields_then_a_count():
    paths = [("x", str(i), "w") for i in range(5)] + [("y", "z")]
    fields = checkpoint._fields(paths, others=[("y", "k")])
    assert fields == ["x", "y.z"]  # x is missing whole; y only in part
    many = [f"f{i}" for i in range(5)]
    assert checkpoint._listing(many) == "f0, f1, f2 and 2 more"
    assert checkpoint._listing(many[:3]) == "f0, f1, f2"


def test_shape_change_makes_a_checkpoint_unreadable(tmp_path, capsys):
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    ckpts.save(5, _v1(), META)
    wider = _v1().replace(a=jnp.zeros(6))
    assert ckpts.restore_latest(_abstract(wider), defaults=lambda: wider) is None
    assert "a: shape (4,) != expected (6,)" in capsys.readouterr().out


def test_index_checkpoint_of_earlier_runs_still_restores(tmp_path, capsys):
    state = _v1()
    _save_by_index(tmp_path, 5, state, META)
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    restored, meta = ckpts.restore_latest(_abstract(state))
    assert meta == META
    _assert_same(restored, state)
    assert capsys.readouterr().out == ""


def test_index_checkpoint_of_an_earlier_layout_needs_legacy(tmp_path, capsys):
    old = _v1(scale=2.0)
    _save_by_index(tmp_path, 5, old, META)
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    fresh = _v2(_v1(scale=-1.0))
    # by index, defaults cannot help: the leaves cannot be matched to fields
    assert ckpts.restore_latest(_abstract(fresh), defaults=lambda: fresh) is None
    assert "warning: checkpoint 5 is unreadable" in capsys.readouterr().out
    legacy = [(_abstract(old), lambda s: StateV2(a=s.a, b=s.b, c=fresh.c))]
    restored, meta = ckpts.restore_latest(_abstract(fresh), legacy=legacy)
    assert meta == META
    _assert_same(restored, StateV2(a=old.a, b=old.b, c=fresh.c))


def test_corrupt_newest_falls_back_to_the_previous(tmp_path, capsys):
    ckpts = checkpoint.Checkpoints(str(tmp_path))
    first, second = _v1(scale=1.0), _v1(scale=2.0)
    ckpts.save(5, first, dict(META, epoch=1))
    ckpts.save(9, second, dict(META, epoch=2))
    for root, _, files in os.walk(tmp_path / "checkpoints" / "9"):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(3)
    restored, meta = ckpts.restore_latest(_abstract(first))
    assert meta["epoch"] == 1
    _assert_same(restored, first)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("warning: checkpoint 9 is unreadable (")
    # at_most picks an older step directly, without touching the corrupt one
    restored, meta = ckpts.restore_latest(_abstract(first), at_most=8)
    assert meta["epoch"] == 1 and capsys.readouterr().out == ""


def test_start_meta_round_trip_and_older_dm_control_metas():
    start = checkpoint.Start(4, 12.5, ({"x": np.float32([1.0, 2.0])},), 1)
    back = checkpoint.Start.from_meta(start.meta())
    assert (back.epoch, back.wall_s, back.calls_done) == (4, 12.5, 1)
    np.testing.assert_array_equal(back.partial[0]["x"], [1.0, 2.0])
    # metas of dm_control runs stopped before the calls' metrics were stored: only their count
    older = checkpoint.Start.from_meta(dict(epoch=2, wall_time=3.0, partial_iters=5))
    assert (older.partial, older.calls_done) == ((), 5)
    assert checkpoint.Start() == checkpoint.Start(0, 0.0, (), 0)


def test_resume_without_a_checkpoint_is_one_resume_error(tmp_path):
    ckpts = checkpoint.Checkpoints(str(tmp_path / "run"))
    abstract = jax.eval_shape(lambda: StateV1(jnp.zeros(2), {"c": jnp.zeros(3)}))
    try:
        ckpts.resume(abstract)
    except checkpoint.ResumeError as e:
        assert str(e).startswith(
            "--resume: no readable checkpoint in "
        ) and "run/checkpoints" in str(e)
    else:
        raise AssertionError("resume() returned without a checkpoint")
