"""A small reader of ``perf record --call-graph dwarf`` files (perf.data): the user registers and
stack copies of each sample, and the process's mappings from its MMAP2 records.

Only what the cross-check needs: the file header, the first attr, PERF_RECORD_SAMPLE laid out
by that attr's ``sample_type``, and PERF_RECORD_MMAP/MMAP2. Layouts from
``include/uapi/linux/perf_event.h`` and perf's ``tools/perf/Documentation/perf.data-file-format``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from profiler.process.maps import Mapping

RECORD_MMAP = 1
RECORD_SAMPLE = 9
RECORD_MMAP2 = 10

S_IP, S_TID, S_TIME, S_ADDR, S_READ, S_CALLCHAIN, S_ID, S_CPU, S_PERIOD = (1 << i for i in range(9))
S_STREAM_ID, S_RAW, S_BRANCH_STACK, S_REGS_USER, S_STACK_USER = (1 << i for i in range(9, 14))
S_IDENTIFIER = 1 << 16
S_WEIGHT, S_DATA_SRC = 1 << 14, 1 << 15  # laid out after the stack: not read, safe to skip
_SUPPORTED = (
    S_IP | S_TID | S_TIME | S_ADDR | S_ID | S_CPU | S_PERIOD | S_STREAM_ID | S_CALLCHAIN
) | (S_REGS_USER | S_STACK_USER | S_IDENTIFIER | S_WEIGHT | S_DATA_SRC)

# arch/x86/include/uapi/asm/perf_regs.h
PERF_REG_X86_BP, PERF_REG_X86_SP, PERF_REG_X86_IP = 6, 7, 8


@dataclass(frozen=True)
class PerfSample:
    """One sample: its time, thread, and the user registers + stack perf copied."""

    time: int
    pid: int
    tid: int
    regs: dict[int, int]  # perf register number -> value
    stack: bytes

    @property
    def x86_regs(self) -> tuple[int, int, int]:
        """``(rip, rsp, rbp)``."""
        return self.regs[PERF_REG_X86_IP], self.regs[PERF_REG_X86_SP], self.regs[PERF_REG_X86_BP]


@dataclass
class PerfData:
    """Samples and per-pid mappings of one perf.data file."""

    samples: list[PerfSample]
    mappings: dict[int, list[Mapping]]


def read_perf_data(path: str) -> PerfData:
    """Parse a perf.data file written by ``perf record --call-graph dwarf``."""
    with open(path, "rb") as stream:
        data = stream.read()
    if data[:8] != b"PERFILE2":
        raise ValueError(f"{path}: not a perf.data file (magic {data[:8]!r})")
    _, _attr_size, attrs_off, _, data_off, data_size = struct.unpack_from("<6Q", data, 8)
    # perf_event_attr: sample_type @24, sample_regs_user @80, sample_stack_user @88.
    sample_type = struct.unpack_from("<Q", data, attrs_off + 24)[0]
    regs_mask = struct.unpack_from("<Q", data, attrs_off + 80)[0]
    if sample_type & ~_SUPPORTED:
        raise ValueError(f"{path}: sample_type {sample_type:#x} has fields this reader skips")
    reg_numbers = [bit for bit in range(64) if regs_mask >> bit & 1]
    samples: list[PerfSample] = []
    mappings: dict[int, list[Mapping]] = {}
    pos = data_off
    end = data_off + data_size
    while pos + 8 <= end:
        rtype, _misc, size = struct.unpack_from("<IHH", data, pos)
        if size == 0:
            break
        body = pos + 8
        if rtype == RECORD_SAMPLE:
            samples.append(_sample(data, body, sample_type, reg_numbers))
        elif rtype == RECORD_MMAP2:
            pid, _tid, addr, length, pgoff = struct.unpack_from("<IIQQQ", data, body)
            _maj, _min, ino, _gen, prot, _flags = struct.unpack_from("<IIQQII", data, body + 32)
            name = data[body + 64 : pos + size].split(b"\0", 1)[0].decode()
            perms = ("r" if prot & 1 else "-") + ("w" if prot & 2 else "-")
            perms += ("x" if prot & 4 else "-") + "p"
            mappings.setdefault(pid, []).append(
                Mapping(addr, addr + length, perms, pgoff, "00:00", ino, name)
            )
        elif rtype == RECORD_MMAP:
            pid, _tid, addr, length, pgoff = struct.unpack_from("<IIQQQ", data, body)
            name = data[body + 32 : pos + size].split(b"\0", 1)[0].decode()
            # MMAP (not MMAP2) is only written for executable mappings.
            mappings.setdefault(pid, []).append(
                Mapping(addr, addr + length, "r-xp", pgoff, "00:00", 1, name)
            )
        pos += size
    return PerfData(samples, {pid: _overlay(maps) for pid, maps in mappings.items()})


def _overlay(records: list[Mapping]) -> list[Mapping]:
    """Non-overlapping mappings: a later mmap replaces what it covers of earlier ones (as the
    kernel's MAP_FIXED does; ld.so maps a whole file, then each segment over it)."""
    current: list[Mapping] = []
    for new in records:
        kept = []
        for old in current:
            if old.end <= new.start or old.start >= new.end:
                kept.append(old)
                continue
            if old.start < new.start:
                kept.append(replace(old, end=new.start))
            if old.end > new.end:
                skip = new.end - old.start if old.inode else 0
                kept.append(replace(old, start=new.end, offset=old.offset + skip))
        kept.append(new)
        current = kept
    return sorted(current, key=lambda m: m.start)


def _sample(data: bytes, pos: int, sample_type: int, reg_numbers: list[int]) -> PerfSample:
    u64 = struct.Struct("<Q").unpack_from
    pid = tid = time = 0
    if sample_type & S_IDENTIFIER:
        pos += 8
    if sample_type & S_IP:
        pos += 8
    if sample_type & S_TID:
        pid, tid = struct.unpack_from("<II", data, pos)
        pos += 8
    if sample_type & S_TIME:
        time = u64(data, pos)[0]
        pos += 8
    for bit in (S_ADDR, S_ID, S_STREAM_ID, S_CPU, S_PERIOD):
        if sample_type & bit:
            pos += 8
    if sample_type & S_CALLCHAIN:
        pos += 8 + 8 * u64(data, pos)[0]
    regs: dict[int, int] = {}
    if sample_type & S_REGS_USER:
        abi = u64(data, pos)[0]
        pos += 8
        if abi:
            for number in reg_numbers:
                regs[number] = u64(data, pos)[0]
                pos += 8
    stack = b""
    if sample_type & S_STACK_USER:
        size = u64(data, pos)[0]
        pos += 8
        if size:
            dyn_size = u64(data, pos + size)[0]
            stack = data[pos : pos + dyn_size]
    return PerfSample(time, pid, tid, regs, stack)
