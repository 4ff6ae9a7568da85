"""Off-CPU blocks of DWARF-unwound processes: read the ring, unwind each stack copy, aggregate.

The off-CPU program sends, when a thread of a process without frame pointers switches back in
after a long enough block, the registers and user stack copy it stashed at the switch-out, with
the blocked nanoseconds and state (:class:`~profiler.bpf.offcpu_layouts.OffCpuRecord`). The
reading, the process registry's maps and the unwinder are the CPU sampler's
(:class:`profiler.bpf.dwarf_samples.DwarfSamples`); only the record and the value differ: blocks
are summed in nanoseconds per (thread, stacks, state).
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import TYPE_CHECKING

from .dwarf_samples import DwarfSamples
from .layouts import KSTACK_DEPTH, DwarfRecordHead, unpacker
from .offcpu_layouts import OFF_CPU_RECORD_HEADER, OffCpuRecord
from .offcpu_program import decode_state
from .samples import RawSample

if TYPE_CHECKING:
    from ..process.registry import ProcessRegistry
    from ..unwind import TableCache

_HEADER = unpacker(DwarfRecordHead)
_KSTACK_AT = OffCpuRecord.offset_of("kstack")
_TAIL = struct.Struct("=QI")  # ns, state
_TAIL_AT = OffCpuRecord.offset_of("ns")
_PYTHON = struct.Struct("=Q")
_PYTHON_AT = OffCpuRecord.offset_of("python_stack")


class OffCpuDwarfRecords(DwarfSamples):
    """Consumes off-CPU DWARF records from ``ring`` on a thread of its own.

    ``raw``: the records come from the raw tracepoint (their state is the scheduler's own).
    """

    def __init__(
        self,
        ring_map: object,
        registry: ProcessRegistry,
        table_cache: TableCache | None = None,
        *,
        raw: bool,
    ) -> None:
        self._raw = raw
        self._ns: Counter[tuple] = Counter()
        super().__init__(ring_map, registry, table_cache)

    def _on_record(self, record: bytes) -> None:
        if len(record) < OFF_CPU_RECORD_HEADER:
            return  # not one of ours: the program sends whole records only
        tgid, tid, comm, ip, spv, fp, stack_len, kbytes = _HEADER.unpack_from(record, 0)
        ns, state = _TAIL.unpack_from(record, _TAIL_AT)
        python = _PYTHON.unpack_from(record, _PYTHON_AT)[0]
        self.records += 1
        kernel: tuple[int, ...] = ()
        if 0 < kbytes <= 8 * KSTACK_DEPTH:
            kernel = struct.unpack_from(f"={kbytes // 8}Q", record, _KSTACK_AT)
        user: tuple[int, ...] = ()
        truncated = False
        stack_len = min(stack_len, len(record) - OFF_CPU_RECORD_HEADER)
        if ip and stack_len > 0:
            stack = bytes(record[OFF_CPU_RECORD_HEADER : OFF_CPU_RECORD_HEADER + stack_len])
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
        key = (tgid, tid, comm, user, kernel, truncated, decode_state(state, self._raw), python)
        with self._lock:
            self._ns[key] += ns

    def take(self) -> list[RawSample]:
        """The blocks unwound since the last call, summed (what the ring holds now first)."""
        self._consume()
        with self._lock:
            blocks, self._ns = self._ns, Counter()
        return [
            RawSample(
                pid=tgid,
                tid=tid,
                comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"),
                user_stack=user,
                kernel_stack=kernel,
                count=0,
                user_stack_truncated=truncated,
                off_cpu_ns=ns,
                thread_state=state,
                python_stack_id=python,
                dwarf_unwound=True,
            )
            for (tgid, tid, comm, user, kernel, truncated, state, python), ns in blocks.items()
        ]
