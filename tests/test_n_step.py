"""n-step targets in the real pipeline: one env's consecutive steps are `num_envs` slots apart in
the replay that the fused epoch fills, and episode ends are found from obs continuity."""

import jax
import numpy as np

from flowrl_mjx.algorithm import replay, train
from tests import tiny


def test_chains_follow_each_env_and_stop_at_time_limit_ends():
    """tiny's cartpole has 20-step episodes and never terminates: after 24 iterations, a 2-step
    chain extends from every entry except those of iteration 19 (the time-limit end, after which
    the env auto-reset) and of iteration 23 (the newest, with no next step yet)."""
    venv, epoch, _ = tiny.programs()
    ts = train.init(jax.random.PRNGKey(0), tiny.CFG, tiny.LOOP, venv)
    for _ in range(6):
        ts, _ = epoch(ts)
    n, iters, gamma = tiny.LOOP.num_envs, 6 * tiny.LOOP.iters_per_epoch, 0.5
    assert int(ts.replay.size) == n * iters  # nothing overwritten
    idx = np.arange(n * iters)
    first = jax.tree.map(lambda buf: buf[idx], ts.replay.data)
    out = replay.n_step_chain(ts.replay, idx, first, 2, n, gamma)
    iteration = idx // n
    extends = (iteration != 19) & (iteration != iters - 1)
    np.testing.assert_array_equal(np.asarray(out.discount), np.where(extends, gamma, 1.0))
    following = np.asarray(ts.replay.data.next_obs)[idx[extends] + n]
    np.testing.assert_array_equal(np.asarray(out.next_obs)[extends], following)
