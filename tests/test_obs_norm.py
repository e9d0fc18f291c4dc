"""The obs_norm extension in the fused training program: off, the program ignores and keeps the
statistics (it is the paper's agent, bit for bit); on, they are the moments of the observations
seen, saved with the policy and in checkpoints (exact resume)."""

import jax
import numpy as np
import pytest

import flowrl_mjx
from flowrl_mjx.algorithm import learner, normalizer, train
from flowrl_mjx.runtime import checkpoint, mjx_backend
from tests.tiny import CFG, CFG_OBS_NORM, LOOP, PER_EPOCH, env, metrics, programs, train_run


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y, equal_nan=True)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))  # fmt: skip


def test_off_the_statistics_are_neither_read_nor_updated():
    """Off (the default): arbitrary statistics in the state change no output, bitwise, and come
    back untouched; fresh ones stay at their init."""
    venv, epoch, _ = programs()
    odd = normalizer.NormState(mean=np.full(venv.observation_size, 3.0, np.float32),
                               var=np.full(venv.observation_size, 50.0, np.float32),
                               count=np.float32(11))  # fmt: skip
    fresh = train.init(jax.random.PRNGKey(0), CFG, LOOP, venv)
    other = train.init(jax.random.PRNGKey(0), CFG, LOOP, venv)
    other = train.place(other.replace(agent=other.agent.replace(obs_norm=odd)))
    for _ in range(2):  # warm-up, then learning
        fresh, m_fresh = epoch(fresh)
        other, m_other = epoch(other)
        assert _leaves_equal(m_fresh, m_other)
    assert _leaves_equal(fresh.replace(agent=fresh.agent.replace(obs_norm=None)),
                         other.replace(agent=other.agent.replace(obs_norm=None)))  # fmt: skip
    assert _leaves_equal(other.agent.obs_norm, odd)
    assert _leaves_equal(fresh.agent.obs_norm, normalizer.init(venv.observation_size))


def _final_state(out, venv):
    abstract = jax.eval_shape(lambda k: train.init(k, CFG_OBS_NORM, LOOP, venv),
                              jax.random.PRNGKey(0))  # fmt: skip
    ckpts = checkpoint.Checkpoints(out)
    state, _ = ckpts.restore_latest(abstract)
    ckpts.close()
    return state


# ~50 s (two tiny runs and a resume); -m slow. The update, evaluation and host-learner
# equivalences stay in the default suite.
@pytest.mark.slow
def test_on_statistics_track_the_observations_and_travel_with_policy_and_checkpoint(tmp_path):
    epochs = 2
    straight = train_run(tmp_path / "a", epochs, cfg=CFG_OBS_NORM)
    venv = programs(CFG_OBS_NORM)[0]
    ts = _final_state(straight, venv)
    stats, data, size = ts.agent.obs_norm, ts.replay.data, int(ts.replay.size)
    assert size == epochs * PER_EPOCH and np.all(data.valid[:size] == 1)
    # Merged each iteration: the observations acted on next (valid rows; warm-up too). These are
    # the replay's obs after the first iteration's, and the envs' current ones.
    seen = np.concatenate([data.obs[LOOP.num_envs : size], ts.env.obs]).astype(np.float64)
    assert float(stats.count) == len(seen) == epochs * PER_EPOCH
    np.testing.assert_allclose(stats.mean, seen.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.var, seen.var(0), rtol=1e-4, atol=1e-7)
    rows = metrics(straight)
    assert all(np.isfinite(v) for k, v in rows[-1].items() if "episode" not in k)
    # load_policy acts as the actor on the normalised observation.
    obs = np.asarray(ts.env.obs)
    act = learner.build(CFG_OBS_NORM, venv.observation_size, venv.action_size).act
    want = act(ts.agent.params.actor, normalizer.normalize(stats, obs), None, deterministic=True)
    np.testing.assert_allclose(flowrl_mjx.load_policy(straight)(obs), want, rtol=1e-5, atol=1e-6)
    # Resume continues exactly (the statistics are part of the checkpointed state).
    train_run(tmp_path / "b", 1, cfg=CFG_OBS_NORM)
    compiled = mjx_backend.programs(CFG_OBS_NORM, LOOP, env())[1]._cache_size()
    resumed = train_run(tmp_path / "b", epochs, cfg=CFG_OBS_NORM, resume=True)
    assert mjx_backend.programs(CFG_OBS_NORM, LOOP, env())[1]._cache_size() == compiled
    for a, b in zip(rows, metrics(resumed), strict=True):
        for k, v in a.items():
            if k not in ("wall_time", "perf/sps"):
                np.testing.assert_allclose(b[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
    assert _leaves_equal(_final_state(resumed, venv).agent.obs_norm, stats)
