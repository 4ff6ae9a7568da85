"""Seeds for fuzzing the readers of a CPython process: real bytes read from real interpreters.

A child interpreter (Debian's CPython 3.11 on the host, and CPython 3.14 in a Debian root, run
by ``chroot``) starts threads and prints the addresses of a few code objects. The readers run
once on the live process through :class:`RecordingMemory`, which keeps every byte range they
read; those ranges, merged, are the seed: a :class:`SnapshotMemory` answers the same reads from
them (and ``EFAULT`` for anything else), so a mutated snapshot is the memory of a hostile or
corrupt interpreter. The 3.14 seed also holds the interpreter's ``_Py_DebugOffsets`` bytes.
"""

from __future__ import annotations

import bisect
import errno
import json
import os
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from profiler.process.maps import ProcessMaps
from profiler.python.code_objects import CodeObjects
from profiler.python.errors import MemoryReadError
from profiler.python.interpreter import Interpreter, find_interpreter
from profiler.python.layouts import DEBUG_OFFSETS_SIZE
from profiler.python.memory import MAX_READ, ProcessMemory, check_range
from profiler.python.threads import interpreter_states, thread_states
from tests.python_stacks import interpreters as I

# Started threads and code objects of several shapes (ASCII and non-ASCII names, a method, a
# nested function, a comprehension-heavy body: a longer line table).
CHILD = r"""
import json, sys, threading
def outer(n):
    def inner(x):
        return [y * 2 for y in range(x) if y % 3]
    return inner(n)
class Holder:
    def método(self, a, b=2):
        if a:
            return a + b
        return b
ready = threading.Barrier(3)
stop = threading.Event()
def worker():
    ready.wait()
    stop.wait()
threads = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
for t in threads:
    t.start()
ready.wait()
inner = next(c for c in outer.__code__.co_consts if hasattr(c, "co_firstlineno"))
codes = [outer.__code__, inner, Holder.método.__code__, worker.__code__]
print(json.dumps([[id(c), c.co_firstlineno] for c in codes]), flush=True)
sys.stdin.read()
stop.set()
"""


class RecordingMemory(ProcessMemory):
    """A process's memory that keeps every range it read successfully."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.records: list[tuple[int, bytes]] = []

    def read(self, address: int, size: int) -> bytes:
        data = super().read(address, size)
        self.records.append((address, data))
        return data

    def read_many(self, requests: Sequence[tuple[int, int]]) -> list[bytes | None]:
        out = super().read_many(requests)
        self.records += [(a, d) for (a, _), d in zip(requests, out, strict=True) if d]
        return out


def merge_ranges(records: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Recorded ``(address, bytes)`` reads merged into disjoint, sorted segments."""
    segments: list[tuple[int, bytearray]] = []
    for address, data in sorted(records):
        if segments and address <= segments[-1][0] + len(segments[-1][1]):
            start, buf = segments[-1]
            end = address + len(data)
            if end > start + len(buf):
                buf += data[start + len(buf) - address :]
        else:
            segments.append((address, bytearray(data)))
    return [(start, bytes(buf)) for start, buf in segments]


class SnapshotMemory:
    """A :class:`~profiler.python.memory.MemoryReader` over segments of bytes: a read inside a
    segment answers from it, anything else is ``EFAULT``; after ``gone_after`` calls every read
    says the process is gone (``ESRCH``), as a process that exits mid-read does."""

    pid = 1

    def __init__(self, segments: list[tuple[int, bytes]], gone_after: int = -1) -> None:
        self.segments = segments
        self._starts = [start for start, _ in segments]
        self.gone_after = gone_after
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if 0 <= self.gone_after < self.calls:
            raise MemoryReadError(errno.ESRCH, "the process is gone")

    def _find(self, address: int, size: int) -> bytes | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return None
        start, data = self.segments[i]
        if address + size > start + len(data):
            return None
        return data[address - start : address - start + size]

    def read(self, address: int, size: int) -> bytes:
        check_range(address, size)
        self._call()
        found = self._find(address, size)
        if found is None:
            raise MemoryReadError(errno.EFAULT, f"nothing at {address:#x}")
        return found

    def read_many(self, requests: Sequence[tuple[int, int]]) -> list[bytes | None]:
        self._call()
        return [
            self._find(a, n) if 0 < a and 0 < n <= MAX_READ and a + n <= 1 << 64 else None
            for a, n in requests
        ]


@dataclass
class PythonSeed:
    """What the readers read of one live interpreter."""

    name: str
    interpreter: Interpreter
    segments: list[tuple[int, bytes]]
    codes: list[tuple[int, int]]  # (code object address, first line)
    line_tables: list[tuple[bytes, int]]  # (co_linetable bytes, first line)
    debug_offsets: bytes = b""  # _Py_DebugOffsets (3.13+)
    fields: list[tuple[int, int]] = field(default_factory=list)  # (offset in the blob, width)

    @property
    def size(self) -> int:
        """Bytes of memory in the seed."""
        return sum(len(data) for _, data in self.segments)


def _fields(seed: PythonSeed) -> list[tuple[int, int]]:
    """Where the readers trust the target most, as (offset in the joined segments, width): the
    pointer, length and line fields of the code objects, the list links of the thread states."""
    lay = seed.interpreter.layout
    wanted: list[tuple[int, int]] = []
    for code, _ in seed.codes:
        for off in (lay.code_filename, lay.code_name, lay.code_qualname, lay.code_linetable):
            wanted.append((code + off, 8))
        wanted += [(code + lay.code_firstlineno, 4), (code + lay.ob_type, 8)]
    out = []
    base = 0
    for start, data in seed.segments:
        for address, width in wanted:
            if start <= address and address + width <= start + len(data):
                out.append((base + address - start, width))
        base += len(data)
    return out or [(0, 8)]


def capture(interp: I.Interp) -> PythonSeed:
    """Run the child with ``interp`` and record what the readers read of it."""
    with interp.script_dir() as (outer, inner):
        with open(os.path.join(outer, "child.py"), "x") as f:
            f.write(CHILD)
        child = subprocess.Popen(
            [*interp.argv, os.path.join(inner, "child.py")], stdin=-1, stdout=-1, text=True
        )
        try:
            codes = [tuple(c) for c in json.loads(child.stdout.readline())]
            memory = RecordingMemory(child.pid)
            maps = ProcessMaps.read(child.pid)
            found = find_interpreter(child.pid, maps, memory, os.readlink(f"/proc/{child.pid}/exe"))
            interpreter_states(found, memory)
            thread_states(found, memory)
            named = CodeObjects(memory, found.layout, found.code_type)
            infos = [named.get(address, line) for address, line in codes]
            debug = b""
            if found.layout.minor >= 13:
                debug = memory.read(found.runtime, DEBUG_OFFSETS_SIZE)
        finally:
            child.communicate("")
    tables = []
    lay = found.layout
    segments = merge_ranges(memory.records)
    snapshot = SnapshotMemory(segments)
    for address, line in codes:
        table = snapshot.read(address + lay.code_linetable, 8)
        pointer = struct.unpack("<Q", table)[0]
        size = struct.unpack("<q", snapshot.read(pointer + lay.bytes_size, 8))[0]
        tables.append((snapshot.read(pointer + lay.bytes_data, size), line))
    assert all(info.filename for info in infos), "the seed's code objects were not all read"
    seed = PythonSeed(interp.name, found, segments, codes, tables, debug)
    seed.fields = _fields(seed)
    return seed


def split_blob(seed: PythonSeed, blob: bytes) -> list[tuple[int, bytes]]:
    """The segments of ``seed`` with their bytes taken, in order, from ``blob`` (a mutated join
    of them: a shorter blob leaves the last segments short or empty)."""
    out = []
    at = 0
    for start, data in seed.segments:
        piece = blob[at : at + len(data)]
        at += len(data)
        if piece:
            out.append((start, piece))
    if at < len(blob) and out:  # inserted bytes: the last segment grows
        start, piece = out[-1]
        out[-1] = (start, piece + blob[at:])
    return out
