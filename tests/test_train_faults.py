"""Faults during training: NaN physics in some envs is survived; a diverging loss stops the run."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from flowrl_mjx.algorithm import train
from flowrl_mjx.runtime import checkpoint, mjx_backend, run_dir, runner
from tests import tiny

_POISON_ABOVE = 0.8  # a step whose first action component exceeds this goes NaN (~10% of random)


def _nan_env():
    cls = type(tiny.env())

    class NaNPhysics(cls):
        """The tiny task whose physics blows up (qvel = NaN) on some actions."""

        def physics_step(self, data, action, info):
            data = super().physics_step(data, action, info)
            return data.replace(qvel=jnp.where(action[0] > _POISON_ABOVE, jnp.nan, data.qvel))

    return NaNPhysics(episode_length=20)


def test_nan_physics_resets_masks_and_counts_without_stopping_training():
    venv, epoch, _ = mjx_backend.programs(tiny.CFG, tiny.LOOP, _nan_env())
    ts = train.init(jax.random.PRNGKey(1), tiny.CFG, tiny.LOOP, venv)
    for _ in range(4):  # warm-up, then learning on a buffer that holds flagged transitions
        ts, metrics = epoch(ts)
        losses = {k: v for k, v in metrics.items() if not k.startswith("train/")}
        assert losses and all(np.isfinite(float(v)) for v in losses.values()), losses
    assert float(metrics["train/learning"]) == 1.0
    resets = int(jnp.sum(ts.env.info["nan_resets"]))
    assert resets > 0 and float(metrics["train/nan_resets"]) == resets
    r = ts.replay.data
    filled = slice(0, int(ts.replay.size))
    invalid = int(jnp.sum(r.valid[filled] == 0))
    assert invalid == resets  # every NaN step stored, flagged; nothing else flagged
    for x in (r.obs, r.action, r.reward, r.next_obs, r.discount):
        assert np.all(np.isfinite(np.asarray(x[filled])))
    params_finite = jax.tree.map(lambda p: bool(jnp.all(jnp.isfinite(p))), ts.agent.params)
    assert all(jax.tree.leaves(params_finite))
    assert np.all(np.isfinite(np.asarray(ts.env.obs)))  # the poisoned envs were reset


def test_non_finite_loss_stops_with_error_and_keeps_last_good_checkpoint(
    tmp_path, capsys, monkeypatch
):
    # Two good epochs (logged, checkpointed), then the learner's parameters turn NaN, as after a
    # diverged Adam step, so the third epoch's losses are non-finite. The tiny setup's compiled
    # programs are reused (a diverging config would compile its own, ~40 s on 2 cores).
    cfg, env, epochs = tiny.CFG, tiny.env(), 40
    venv, good_epoch, evaluate = mjx_backend.programs(cfg, tiny.LOOP, env)
    calls = []

    def diverging_epoch(ts):
        calls.append(1)
        if len(calls) > 2:
            nan = lambda p: jnp.full_like(p, jnp.nan)
            params = ts.agent.params
            params = params.replace(critic=jax.tree.map(nan, params.critic),
                                    actor=jax.tree.map(nan, params.actor))  # fmt: skip
            ts = ts.replace(agent=ts.agent.replace(params=params))
        return good_epoch(ts)

    monkeypatch.setattr(mjx_backend, "programs", lambda *a: (venv, diverging_epoch, evaluate))
    run = tiny.run_config(epochs, seed=0, cfg=cfg)
    out = run_dir.prepare(str(tmp_path / "d"), tiny.TASK, 0, False)
    # returned, not raised: Python callers keep control; launch exits 1 with an error line
    status = runner.run(run, env, out, False)
    assert status.startswith("stopped: non-finite") and runner.exit_code(status) == 1
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert len(rows) == 2 and len(calls) == 3  # stopped at the first non-finite epoch
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["status"].startswith("stopped: non-finite")
    # the newest checkpoint is the last logged (good) epoch, and it holds finite parameters
    ckpt = checkpoint.Checkpoints(out)
    assert ckpt.steps()[-1] == rows[-1]["env_steps"]
    abstract = jax.eval_shape(lambda k: train.init(k, cfg, tiny.LOOP, venv), jax.random.PRNGKey(0))
    state, _ = ckpt.restore_latest(abstract)
    ckpt.close()
    assert all(bool(np.all(np.isfinite(p))) for p in jax.tree.leaves(state.agent.params))
    assert "non-finite" in capsys.readouterr().out
