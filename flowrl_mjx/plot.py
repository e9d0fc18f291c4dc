"""`python -m flowrl_mjx.plot`: learning curves beside published ones (flowrl_mjx.analysis.plot)."""

import sys

from flowrl_mjx.analysis.plot import main

if __name__ == "__main__":
    sys.exit(main())
