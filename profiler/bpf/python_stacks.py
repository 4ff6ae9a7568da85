"""User space of the CPython frame walk: the stacks it stored, by sample id, and its counters.

:class:`PythonStacks` moves everything the kernel stored in ``py_stacks`` since the last call out
of the map in one ``BPF_MAP_LOOKUP_AND_DELETE_BATCH`` (:meth:`PythonStacks.take_new`) into a
bounded cache here, and resolves a sample's Python stack id (:meth:`PythonStacks.resolve`). A
stack seen again is stored again by the kernel (one 2 KiB copy per stack and interval), and no
sample names an entry we dropped before reading it: the cache keeps what it read for
``2 * max_stacks`` stacks, and a sample is resolved in the drain after its stack was stored at
the latest.
"""

from __future__ import annotations

import struct
import threading

from .python_layouts import HASH_MASK, MAX_FRAMES, PyFrame, PyStat, StackKey
from .python_walk import VAL_FRAMES, PythonMaps

# A decoded Python stack: frames leaf first as (code address, instruction offset, word).
PyFrames = tuple[tuple[int, int, int], ...]

_KEY = struct.Struct("=" + StackKey.fmt)
_HEAD = struct.Struct("=II")  # StackValue's count and flags
_FRAME = struct.Struct("=" + PyFrame.fmt)
_U64 = struct.Struct("<Q")


def decode_stack(raw: bytes) -> tuple[PyFrames, int]:
    """A ``py_stacks`` value -> (frames leaf first, flags). Bounded by ``MAX_FRAMES`` and by
    the bytes given."""
    frames, flags = _frame_bytes(raw)
    return _unpack(frames), flags


def _frame_bytes(raw: bytes) -> tuple[bytes, int]:
    """A ``py_stacks`` value -> (the bytes of its frames, flags): what the cache keeps, 16 bytes
    a frame (the decoded tuples would take ~10 times that, and a recursive program makes
    thousands of stacks)."""
    if len(raw) < _HEAD.size:
        return b"", 0
    count, flags = _HEAD.unpack_from(raw, 0)
    count = min(count, MAX_FRAMES, max(0, (len(raw) - VAL_FRAMES) // PyFrame.size))
    return raw[VAL_FRAMES : VAL_FRAMES + count * PyFrame.size], flags


def _unpack(frames: bytes) -> PyFrames:
    return tuple(_FRAME.iter_unpack(frames))


class PythonStacks:
    """Resolves sample stack ids to Python stacks through the ``py_stacks`` map (thread-safe:
    the drain and the Python upkeep thread both read)."""

    def __init__(self, maps: PythonMaps, max_stacks: int) -> None:
        self.maps = maps
        self.max_stacks = max_stacks
        self._lock = threading.Lock()
        # (hash, pid) -> (frame bytes, flags)
        self._current: dict[tuple[int, int], tuple[bytes, int]] = {}
        self._previous: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.missing = 0  # stack ids we could not resolve (the sample keeps its native stack)
        self.taken = 0  # stacks read from the kernel

    def take_new(self) -> list[tuple[int, PyFrames]]:
        """Read (and remove) every stack the kernel stored since the last call; returns them
        as ``(pid, frames)`` so their code objects can be named at once."""
        out = []
        with self._lock:
            for key, value in self.maps.stacks.lookup_and_delete_batch():
                stack_hash, pid, _ = _KEY.unpack_from(key)
                found = _frame_bytes(bytes(value))
                self._store((stack_hash, pid), found)
                self.taken += 1
                out.append((pid, _unpack(found[0])))
        return out

    def _store(self, key: tuple[int, int], found: tuple[bytes, int]) -> None:
        if len(self._current) >= self.max_stacks:
            self._previous, self._current = self._current, {}
        self._current[key] = found

    def resolve(self, pid: int, stack_id: int) -> PyFrames:
        """The frames of sample stack id ``stack_id`` of process ``pid`` (empty when unknown)."""
        stack_hash = stack_id & HASH_MASK
        if not stack_hash:
            return ()
        key = (stack_hash, pid)
        found = self._current.get(key)
        if found is None:
            with self._lock:
                found = self._previous.get(key)
                if found is None:
                    # Stored after the last batch read: read it now.
                    raw = self.maps.stacks.lookup(StackKey.pack(StackKey(stack_hash, pid, 0)))
                    if raw is None:
                        self.missing += 1
                        return ()
                    found = _frame_bytes(bytes(raw))
                self._store(key, found)
        return _unpack(found[0])

    def read_stats(self) -> dict[str, int]:
        """The walk's counters, summed over CPUs (cumulative), and ``unresolved``."""
        out = {}
        for slot in PyStat:
            per_cpu = self.maps.stats.lookup(struct.pack("<I", slot)) or []
            out[slot.key] = sum(
                _U64.unpack_from(v)[0] if isinstance(v, bytes) else int(v) for v in per_cpu
            )
        out["unresolved"] = self.missing
        return out
