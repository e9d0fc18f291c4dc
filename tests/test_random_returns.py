"""launch/random_returns.py: the random-policy floor is reproducible per seed; bad input exits 2."""

import subprocess
import sys

from launch import random_returns


def test_episode_return_is_reproducible_per_seed():
    a = random_returns.episode_return("cartpole", "swingup", 3)
    assert a == random_returns.episode_return("cartpole", "swingup", 3)
    assert a != random_returns.episode_return("cartpole", "swingup", 4)


def test_unknown_task_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "launch.random_returns", "--tasks", "dog_sprint", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: unknown task(s) dog_sprint")
    assert not list(tmp_path.iterdir())
