"""`python -m flowrl_mjx.launch`: the training CLI (flowrl_mjx.runtime.cli)."""

from flowrl_mjx.runtime import cli
from flowrl_mjx.runtime.cli import main, run_main  # noqa: F401  (the entry point and its main)

__doc__ = cli.__doc__  # what --help prints (absl reads the __main__ module's docstring)

if __name__ == "__main__":
    run_main()
