"""`python -m flowrl_mjx.evaluate`: a trained run's returns (flowrl_mjx.analysis.evaluate)."""

import sys

from flowrl_mjx.analysis.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
