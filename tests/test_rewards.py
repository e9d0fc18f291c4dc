"""The JAX tolerance port equals dm_control.utils.rewards.tolerance for every sigmoid."""

import numpy as np
import pytest
from dm_control.utils import rewards as dm_rewards

from envs import rewards

CASES = [((0.0, 0.0), 1.0), ((-1.0, 2.0), 0.5), ((1.0, float("inf")), 3.0), ((0.5, 0.5), 0.0)]


@pytest.mark.parametrize("sigmoid", rewards.SIGMOIDS)
@pytest.mark.parametrize("bounds,margin", CASES)
def test_tolerance_matches_dm_control(sigmoid, bounds, margin):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=500)
    for value_at_margin in (0.0, 0.1, 0.5, 0.9):
        if value_at_margin == 0.0 and sigmoid not in ("cosine", "linear", "quadratic"):
            continue
        want = dm_rewards.tolerance(x, bounds, margin, sigmoid, value_at_margin)
        got = np.asarray(rewards.tolerance(x, bounds, margin, sigmoid, value_at_margin))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tolerance_rejects_bad_arguments():
    with pytest.raises(ValueError):
        rewards.tolerance(0.0, (1.0, 0.0))
    with pytest.raises(ValueError):
        rewards.tolerance(0.0, (0.0, 1.0), margin=-1.0)
    with pytest.raises(ValueError):
        rewards.tolerance(2.0, (0.0, 1.0), margin=1.0, sigmoid="nope")
