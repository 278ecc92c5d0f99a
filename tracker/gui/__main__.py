"""`python -m tracker.gui ...`: the same as `siamtrack gui ...`."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
