"""`python -m flowrl_mjx.launch`: the training CLI (flowrl_mjx.runtime.cli)."""

from flowrl_mjx.runtime.cli import run_main

if __name__ == "__main__":
    run_main()
