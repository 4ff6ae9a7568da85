"""The command line: ``python -m profiler`` (one profile) and ``python -m profiler agent``."""

from .profile_command import main

__all__ = ["main"]
