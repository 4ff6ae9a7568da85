"""A snapshot of one process's executable mappings, kept after the process exits."""

from __future__ import annotations

import bisect
import time
from array import array

from ..process.maps import Mapping, read_maps

MAX_CACHED_ADDRESSES = 1 << 14  # per process; the cache is cleared when it grows past this


def namespace_pid(pid: int, proc: str = "/proc") -> int | None:
    """The pid of ``pid`` in its own (innermost) PID namespace, from ``NSpid`` in its status."""
    try:
        with open(f"{proc}/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


class ProcessSnapshot:
    """The executable mappings of process ``pid`` at ``taken_at`` (``time.monotonic()``).

    ``binaries[i]`` is the :class:`~.binary.Binary` of ``mappings[i]`` once resolved (``None``
    until then, or for anonymous mappings). ``frames`` caches symbolized addresses of this
    process (its addresses repeat from interval to interval).
    """

    __slots__ = (
        "_starts",
        "binaries",
        "exited",
        "frames",
        "is_refresh",
        "mappings",
        "namespace_pid",
        "pid",
        "resolved",
        "root",
        "taken_at",
        "unknown_at",
    )

    def __init__(self, pid: int, mappings: list[Mapping], proc: str = "/proc") -> None:
        """Keep the executable ones of ``mappings`` (sorted by start)."""
        self.pid = pid
        self.root = f"{proc}/{pid}/root"
        self.mappings = sorted((m for m in mappings if m.executable), key=lambda m: m.start)
        self._starts = array("Q", (m.start for m in self.mappings))
        self.binaries: list[object | None] = [None] * len(self.mappings)
        self.resolved = [False] * len(self.mappings)
        self.namespace_pid = namespace_pid(pid, proc)
        self.taken_at = time.monotonic()
        self.exited = False
        self.is_refresh = False  # taken because an address fell outside an earlier snapshot
        self.frames: dict[int, tuple] = {}
        self.unknown_at: dict[int, float] = {}  # key -> when it was last found unknown

    @classmethod
    def take(cls, pid: int, proc: str = "/proc") -> ProcessSnapshot:
        """Read ``/proc/PID/maps`` now; raises ``OSError`` if the process is gone."""
        return cls(pid, read_maps(pid, proc), proc)

    def find(self, address: int) -> int | None:
        """The index of the mapping holding ``address``, or ``None``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.mappings[i].end:
            return i
        return None

    def remember(self, key: int, frames: tuple) -> None:
        """Cache symbolized ``frames`` under ``key`` (bounded)."""
        if len(self.frames) >= MAX_CACHED_ADDRESSES:
            self.frames.clear()
            self.unknown_at.clear()
        self.frames[key] = frames
