"""The command line: ``python -m profiler`` (one profile), ``record -- CMD``, ``top`` and ``agent``
(installed as ``pureprof``)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m profiler`` and the ``pureprof`` command."""
    from .main import main as run_main

    return run_main(argv)


__all__ = ["main"]
