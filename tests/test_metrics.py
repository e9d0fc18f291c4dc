"""The metric table (flowrl_mjx.algorithm.metrics): every name the programs emit is declared,
the declared rules are the group rules runs have always used, and the reduction that applies
them. Traces (jax.eval_shape), never compiles: seconds on CPU."""

import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.wrappers import VecEnv
from flowrl_mjx.algorithm import evaluation, learner, metrics, train
from flowrl_mjx.algorithm.replay import Transition
from flowrl_mjx.dmc_backend import host_env, host_runner, host_train
from flowrl_mjx.runtime import run_dir
from tests import tiny


def test_rules_by_group():
    assert metrics.keeps_last("train/updates") and metrics.keeps_last("train/episode_return")
    assert not metrics.keeps_last("train/reward") and not metrics.keeps_last("critic/loss")
    assert metrics.stops_run("critic/loss") and metrics.stops_run("actor/loss")
    for name in ("train/episode_return", "eval/return_stochastic", "perf/sps"):
        assert not metrics.stops_run(name)


def test_undeclared_names_are_an_error():
    for rule in (metrics.keeps_last, metrics.stops_run):
        with pytest.raises(metrics.UndeclaredMetric, match="actor/flow_loss"):
            rule("actor/flow_loss")
    with pytest.raises(ValueError):
        metrics.Metric("critic/loss", "median", True, "no such reduction")


def _prefix_keeps_last(name):  # the rules as they stood before the table, by name prefix
    return name.startswith("train/") and name != "train/reward"


def _prefix_stops_run(name):
    return not name.startswith(("train/", "eval/", "perf/"))


def test_declared_rules_are_the_group_rules():
    for name, m in metrics.METRICS.items():
        assert m.name == name and m.meaning and "\n" not in m.meaning, m
        assert metrics.keeps_last(name) == _prefix_keeps_last(name), name
        assert metrics.stops_run(name) == _prefix_stops_run(name), name


def _host_call(state, learner_metrics, n: int, obs_size: int, action_size: int) -> dict:
    """The metrics of one call of the dm_control backend (DmcBackend.call), its pool and learner
    replaced by stand-ins: a step of zeros, learn_and_act answering zeros of its traced shapes."""
    zeros = {k: np.zeros(s.shape, s.dtype) for k, s in learner_metrics.items()}
    backend = object.__new__(host_runner.DmcBackend)
    backend.state, backend.obs = state, np.zeros((n, obs_size), np.float32)
    backend.tracker = host_runner._Tracker(n)
    backend.prog = types.SimpleNamespace(learn_and_act=lambda s, b, obs: (s, b.action, zeros))
    backend.action = np.zeros((n, action_size), np.float32)
    f = lambda *shape: np.zeros(shape, np.float32)
    step = host_env.HostStep(obs=f(n, obs_size), reward=f(n), discount=f(n) + 1,
                             next_obs=f(n, obs_size), valid=f(n) + 1, ended=np.zeros(n, bool),
                             episode_return=f(n) + np.nan)  # fmt: skip
    backend.pool = types.SimpleNamespace(step=lambda actions: step)
    return backend.call()


def _emitted(tmp_path) -> dict:
    """{source: the metric names it emits}, from the programs' shapes and the host code paths."""
    cfg, loop, env, key = tiny.CFG, tiny.LOOP, tiny.env(), jax.random.PRNGKey(0)
    venv = VecEnv(env, loop.num_envs)
    ts = jax.eval_shape(lambda k: train.init(k, cfg, loop, venv), key)
    out = {"epoch": jax.eval_shape(train.make_epoch_fn(cfg, loop, venv), ts)[1]}
    fns = learner.build(cfg, env.observation_size, env.action_size, loop.num_envs)
    evaluate = evaluation.make_evaluate(cfg, env, fns, loop.num_eval_envs, env.episode_length)
    out["evaluate"] = jax.eval_shape(evaluate, ts.agent.params.actor, key, ts.agent.obs_norm)
    # the dm_control backend: its learner traced; its host paths fed with the learner's shapes
    n, o, a = loop.num_envs, venv.observation_size, venv.action_size
    prog = host_train.programs(cfg, n, o, a)
    hs = jax.eval_shape(lambda k: host_train.init(k, cfg, o, a), key)
    f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
    batch = Transition(obs=f32(n, o), action=f32(n, a), reward=f32(n), discount=f32(n),
                       next_obs=f32(n, o), valid=f32(n))  # fmt: skip
    out["learn_and_act"] = jax.eval_shape(prog.learn_and_act, hs, batch, f32(n, o))[2]
    out["host call"] = _host_call(hs, out["learn_and_act"], n, o, a)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(host_env, "run_episodes", lambda pool, act, length: (np.ones(2), 0))
        out["host evaluate"] = host_runner.evaluate(prog, hs.agent, None, key, 10)
    log = run_dir.RunLog(
        str(tmp_path), tiny.run_config(1), None, resume_steps=0
    )  # what a log row adds
    log.write(8, {}, time.time(), 8, echo=False)
    out["log row"] = {k: v for k, v in log.last.items() if k not in metrics.ROW_COLUMNS}
    assert set(metrics.ROW_COLUMNS) <= set(log.last)
    log.close("finished")
    return {source: set(names) for source, names in out.items()}


def test_every_emitted_metric_is_declared_and_every_declared_one_emitted(tmp_path):
    emitted = _emitted(tmp_path)
    for source, names in emitted.items():
        assert names and names <= set(metrics.METRICS), (source, names - set(metrics.METRICS))
    assert set().union(*emitted.values()) == set(metrics.METRICS)  # no stale declaration
    # both backends log the same keys (the dm_control one adds its host timing)
    host = emitted["host call"] - {"perf/host_env_fraction"}
    assert host == emitted["epoch"] and emitted["host evaluate"] == emitted["evaluate"]


def test_reduction_of_calls_keeps_last_train_values_and_averages_the_rest():
    stacked = {"train/updates": np.array([[2.0, 2.0], [4.0, 4.0]]),  # (calls, seeds)
               "train/reward": np.array([[1.0, 3.0], [3.0, 5.0]]),
               "critic/loss": np.array([[0.5, 1.0], [1.5, 2.0]])}  # fmt: skip
    out = train.reduce_iterations(stacked)
    np.testing.assert_array_equal(out["train/updates"], [4.0, 4.0])
    np.testing.assert_array_equal(out["train/reward"], [2.0, 4.0])
    np.testing.assert_array_equal(out["critic/loss"], [1.0, 1.5])
