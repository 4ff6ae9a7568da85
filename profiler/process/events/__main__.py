"""``python -m profiler.process.events``: print process events as they happen."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
