"""``python -m profiler``: see :mod:`profiler.cli`."""

import sys

from .cli.signals import StopOnSignals

if __name__ == "__main__":
    # Before anything else is imported: a Ctrl-C from the first moment exits cleanly.
    with StopOnSignals() as stop:
        from .cli.main import main

        sys.exit(main(stop=stop))
