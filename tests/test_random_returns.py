"""launch/random_returns.py: the random-policy floor is reproducible per seed (its bad input:
tests/test_cli_flags.py::test_module_entry_points_exit_codes)."""

from launch import random_returns


def test_episode_return_is_reproducible_per_seed():
    a = random_returns.episode_return("cartpole", "swingup", 3)
    assert a == random_returns.episode_return("cartpole", "swingup", 3)
    assert a != random_returns.episode_return("cartpole", "swingup", 4)
