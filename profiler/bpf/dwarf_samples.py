"""DWARF-unwound samples: read the sampler's ring buffer, unwind each copied stack, aggregate.

The BPF program sends, for processes without frame pointers, the user registers and a copy of
the top of the user stack (see :mod:`profiler.bpf.sampler_program`). A reader thread consumes
the ring buffer when the program wakes it (at half full) and the drain reads what is left; each
record is unwound at once with :mod:`profiler.unwind` (tables cached by build id; a per-process
pc → row memo), and only the resulting addresses are kept,
aggregated by key like the in-kernel counts map does. :meth:`DwarfSamples.take` hands the
aggregate to the drain, so both kinds of samples flow through the same pipeline.
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from typing import TYPE_CHECKING

from .layouts import (
    RECORD_HEADER,
    SPAWN_DEPTH,
    DwarfRecord,
    DwarfRecordHead,
    spawn_chain,
    unpacker,
)
from .samples import RawSample

if TYPE_CHECKING:
    from ..process.registry import ProcessRegistry
    from ..unwind import TableCache, Unwinder

_HEADER = unpacker(DwarfRecordHead)
_KSTACK_AT = DwarfRecord.offset_of("kstack")
_CHAIN = struct.Struct(f"={SPAWN_DEPTH}i")
_CHAIN_AT = DwarfRecord.offset_of("spawn_chain")
_PYTHON = struct.Struct("=Q")
_PYTHON_AT = DwarfRecord.offset_of("python_stack")


class DwarfSamples:
    """Consumes DWARF records from ``ring`` (a BPF ring buffer map) on a thread of its own."""

    def __init__(
        self,
        ring_map: object,
        registry: ProcessRegistry,
        table_cache: TableCache | None = None,
    ) -> None:
        from pybpf.ringbuf import RingBuffer

        self.registry = registry
        self._table_cache = table_cache
        self._unwinder: Unwinder | None = None  # made on the first record (imports the CFI code)
        self._counts: Counter[tuple] = Counter()
        self._lock = threading.Lock()  # the aggregate
        self._reading = threading.Lock()  # the ring's consumer position (one reader at a time)
        self.truncated = 0
        self.records = 0
        self._ring = RingBuffer(ring_map, self._on_record)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pp-dwarf", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Asleep until the program wakes us (the ring is half full, see bpf/ring_wakeup.py) or
        # close() does: no wake-ups when nothing is sent.
        while not self._stop.is_set():
            if self._ring.wait(-1):
                self._consume()

    def _consume(self) -> None:
        with self._reading:
            self._ring.consume()

    @property
    def table_cache(self) -> TableCache:
        """The unwind tables (the session's, or our own)."""
        if self._table_cache is None:
            from ..unwind import TableCache

            self._table_cache = TableCache()
        return self._table_cache

    @property
    def unwinder(self) -> Unwinder:
        """The unwinder over :attr:`table_cache`, made on first use."""
        if self._unwinder is None:
            from ..unwind import Unwinder

            self._unwinder = Unwinder(cache=self.table_cache)
        return self._unwinder

    def _on_record(self, record: bytes) -> None:
        tgid, tid, comm, ip, spv, fp, stack_len, kbytes = _HEADER.unpack_from(record, 0)
        self.records += 1
        kernel = ()
        if kbytes > 0:
            kernel = struct.unpack_from(f"={kbytes // 8}Q", record, _KSTACK_AT)
        user: tuple[int, ...] = ()
        truncated = False
        if ip and stack_len:
            stack = bytes(record[RECORD_HEADER : RECORD_HEADER + stack_len])
            mappings = self.registry.maps(tgid)
            if mappings is not None:
                result = self.unwinder.unwind((ip, spv, fp), stack, mappings)
                if result.truncated and "mapping" in result.reason:
                    # dlopen or JIT since we read the maps: look again (rate-limited).
                    fresh = self.registry.refresh(tgid)
                    if fresh is not None and fresh is not mappings:
                        result = self.unwinder.unwind((ip, spv, fp), stack, fresh)
                user, truncated = tuple(result.addrs), result.truncated
        elif ip:
            user = (ip,)
        if truncated:
            self.truncated += 1
        chain = spawn_chain(_CHAIN.unpack_from(record, _CHAIN_AT))
        python = _PYTHON.unpack_from(record, _PYTHON_AT)[0]
        key = (tgid, tid, comm, user, kernel, truncated, chain, python)
        with self._lock:
            self._counts[key] += 1

    def stop_reading(self) -> None:
        """Stop the reader thread and read what the ring still holds (once the program has
        stopped sending: the final drain then takes every record; the thread would have read
        them only at its next poll)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._ring.wake()
        self._thread.join()
        self._consume()

    def take(self) -> list[RawSample]:
        """The samples unwound since the last call, aggregated (what the ring holds now is
        read first, so nothing lags behind the drain)."""
        self._consume()
        with self._lock:
            counts, self._counts = self._counts, Counter()
        out = []
        for (tgid, tid, comm, user, kernel, truncated, chain, python), count in counts.items():
            out.append(
                RawSample(
                    pid=tgid,
                    tid=tid,
                    comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"),
                    user_stack=user,
                    kernel_stack=kernel,
                    count=count,
                    user_stack_truncated=truncated,
                    spawn_chain=chain,
                    python_stack_id=python,
                    dwarf_unwound=True,
                )
            )
        return out

    def close(self) -> None:
        """Stop the reader thread and unmap the ring buffer."""
        self._stop.set()
        self._ring.wake()
        self._thread.join()
        self._ring.close()
