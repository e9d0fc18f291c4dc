"""The metric rules (flowrl_mjx.algorithm.metrics) and the reduction that applies them."""

import numpy as np

from flowrl_mjx.algorithm import metrics, train


def test_rules_by_group():
    assert metrics.keeps_last("train/updates") and metrics.keeps_last("train/episode_return")
    assert not metrics.keeps_last("train/reward") and not metrics.keeps_last("critic/loss")
    assert metrics.stops_run("critic/loss") and metrics.stops_run("actor/flow_loss")
    for name in ("train/episode_return", "eval/return_stochastic", "perf/sps"):
        assert not metrics.stops_run(name)


def test_reduction_of_calls_keeps_last_train_values_and_averages_the_rest():
    stacked = {"train/updates": np.array([[2.0, 2.0], [4.0, 4.0]]),  # (calls, seeds)
               "train/reward": np.array([[1.0, 3.0], [3.0, 5.0]]),
               "critic/loss": np.array([[0.5, 1.0], [1.5, 2.0]])}  # fmt: skip
    out = train.reduce_iterations(stacked)
    np.testing.assert_array_equal(out["train/updates"], [4.0, 4.0])
    np.testing.assert_array_equal(out["train/reward"], [2.0, 4.0])
    np.testing.assert_array_equal(out["critic/loss"], [1.0, 1.5])
