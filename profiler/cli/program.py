"""The name the user typed to run us, for usage lines and hints: ``pureprof`` or
``python -m profiler`` (argparse would say ``__main__.py`` for the latter)."""

from __future__ import annotations

import os
import sys

MODULE_PROG = "python -m profiler"


def program_name(argv0: str | None = None) -> str:
    """``python -m profiler`` when run as a module, else the command's file name (the
    ``pureprof`` script, or whatever name it was installed or linked under)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0)
    if not name or name in ("__main__.py", "-c", "-m") or name.endswith(".py"):
        return MODULE_PROG
    return name
