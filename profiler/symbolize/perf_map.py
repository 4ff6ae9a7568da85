"""JIT symbols from perf map files (``/tmp/perf-PID.map``), the format JITs write for perf.

Each line is ``START SIZE NAME`` with START and SIZE in hex (``0x`` optional) and NAME the rest of
the line. Later lines win over earlier ones for the same start (a JIT may recompile a function).

The file belongs to the profiled process. :meth:`PerfMap.parse` is total: it skips malformed
lines (a start or size that is not hex, or past 2**64), cuts names at :data:`MAX_NAME`
characters, and raises :class:`PerfMapError` for text longer than :data:`MAX_TEXT` (the caller
reads at most that much).
"""

from __future__ import annotations

import bisect
import os
from array import array

from ..elf.errors import FormatError
from ..process.files import FileSource, RootedFile, read_capped
from ..process.info import ProcessInfo

MAX_TEXT = 64 << 20  # characters of one perf map (a large JVM's map is a few MiB)
MAX_PERF_MAP = MAX_TEXT  # bytes of a perf map read at most
MAX_NAME = 4096  # characters of one name
MAX_HEX_DIGITS = 18  # "0x" + 16 digits: a 64-bit value
_MAX_ADDRESS = (1 << 64) - 1


class PerfMapError(FormatError):
    """A perf map is larger than the parser accepts (:data:`MAX_TEXT`)."""


class PerfMap:
    """The entries of one perf map, sorted; ``lookup(addr)`` gives ``(name, start)`` or ``None``."""

    __slots__ = ("_ends", "_names", "_starts", "identity")

    def __init__(self, entries: list[tuple[int, int, str]], identity: object = None) -> None:
        """``entries``: ``(start, size, name)``; ``identity`` records the file version read."""
        latest = {start: (size, name) for start, size, name in entries}
        starts = sorted(latest)
        self._starts = array("Q", starts)
        self._ends = array("Q", (min(s + max(latest[s][0], 1), _MAX_ADDRESS) for s in starts))
        self._names = [latest[s][1] for s in starts]
        self.identity = identity

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str, identity: object = None) -> PerfMap:
        """Parse the text of a perf map; malformed lines are skipped.

        Raises :class:`PerfMapError` if ``text`` is longer than :data:`MAX_TEXT`.
        """
        if len(text) > MAX_TEXT:
            raise PerfMapError(f"perf map of {len(text)} characters (limit {MAX_TEXT})")
        entries = []
        for line in text.splitlines():
            parts = line.strip().split(None, 2)
            if len(parts) < 3 or len(parts[0]) > MAX_HEX_DIGITS or len(parts[1]) > MAX_HEX_DIGITS:
                continue
            try:
                start, size = int(parts[0], 16), int(parts[1], 16)
            except ValueError:
                continue
            if 0 <= start <= _MAX_ADDRESS and 0 <= size <= _MAX_ADDRESS:
                entries.append((start, size, parts[2][:MAX_NAME]))
        return cls(entries, identity)

    def lookup(self, address: int) -> tuple[str, int] | None:
        """The ``(name, start)`` of the entry containing ``address``, or ``None``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or address >= self._ends[i]:
            return None
        return self._names[i], self._starts[i]


def perf_map_sources(pid: int, namespace_pid: int = 0, proc: str = "/proc") -> list[FileSource]:
    """Where the perf map of ``pid`` may be, most specific first.

    A process in a PID namespace names the file after its own pid (``NSpid``), inside its own
    ``/tmp``: it is resolved inside the process's root (never out of it; a process in our own
    mount namespace has our ``/tmp`` as its own).
    """
    inner = namespace_pid or pid
    sources: list[FileSource] = [RootedFile(pid, f"/tmp/perf-{inner}.map", proc)]
    if inner != pid:
        sources.append(RootedFile(pid, f"/tmp/perf-{pid}.map", proc))
    return sources


def load_perf_map(
    pid: int, info: ProcessInfo | None, previous: PerfMap | None = None, proc: str = "/proc"
) -> PerfMap | None:
    """The perf map of ``pid`` if it has one we may read, else ``previous``.

    perf's rule: only a regular file owned by the process's user or by root is read (another
    user could otherwise feed frame names to a process's profile), at most ``MAX_PERF_MAP``
    bytes. ``previous`` is returned as it is when the file has not changed.
    """
    owners = {0} if info is None or info.uid < 0 else {0, info.uid}
    for source in perf_map_sources(pid, info.namespace_pid if info else 0, proc):
        try:
            fd = source.open(MAX_PERF_MAP)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid not in owners:
                continue
            identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if previous is not None and previous.identity == identity:
                return previous
            text = read_capped(fd, MAX_PERF_MAP).decode("utf-8", "replace")
        except OSError:
            continue
        finally:
            os.close(fd)
        try:
            return PerfMap.parse(text, identity=identity)
        except PerfMapError:
            return previous
    return previous
