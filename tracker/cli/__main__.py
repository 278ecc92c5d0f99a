"""`python -m tracker.cli ...`: the same as `siamtrack ...`."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
