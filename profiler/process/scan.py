"""Which processes of the machine map a file whose path matches a pattern: a cheap first pass.

Reading ``/proc/PID/maps`` of every process costs tens of microseconds each; matching its text
with one regular expression (no parsing, no snapshot kept) finds, for example, the processes
that may run CPython before anything heavier looks at them.
"""

from __future__ import annotations

import os
import re


def pids_mapping(pattern: re.Pattern[bytes], proc: str = "/proc") -> list[int]:
    """Pids whose ``/proc/PID/maps`` text matches ``pattern`` (our own process excluded)."""
    me = os.getpid()
    out = []
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"{proc}/{entry}/maps", "rb") as f:
                maps = f.read()
        except OSError:
            continue
        if pattern.search(maps):
            out.append(int(entry))
    return out
