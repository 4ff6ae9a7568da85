"""Reading another process's memory with ``process_vm_readv(2)``: no ptrace stop, no attach.

:class:`ProcessMemory` reads through the process layer's one kernel seam
(:mod:`profiler.process.syscalls`, swappable in tests with ``use_calls``). Everything in
:mod:`profiler.python` reads a target through an object with ``read`` and ``read_many``
(:class:`MemoryReader`), so tests can also hand in a snapshot of byte ranges and exercise
hostile or vanished memory without a process. Every byte read is the target's to choose:
callers bound every size they derive from it, and no single read is larger than
:data:`MAX_READ`.

The one error is :class:`~profiler.python.errors.MemoryReadError` (with the errno).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from typing import Protocol

from ..process.syscalls import IOV_MAX, calls
from .errors import MemoryReadError

MAX_READ = 1 << 20  # no single read of a target's memory is larger than this
_U64 = struct.Struct("<Q")


class MemoryReader(Protocol):
    """What the readers of :mod:`profiler.python` need from a target's memory."""

    pid: int

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``, all of them, or :class:`MemoryReadError`."""

    def read_many(self, requests: Sequence[tuple[int, int]]) -> list[bytes | None]:
        """Several ``(address, size)`` reads at once; ``None`` for each one that failed (a
        process that is gone raises :class:`MemoryReadError`)."""


def check_range(address: int, size: int) -> None:
    """Raise :class:`MemoryReadError` unless ``[address, address + size)`` is a read we allow."""
    if size < 0 or size > MAX_READ:
        raise MemoryReadError(errno.EINVAL, f"refusing to read {size} bytes (max {MAX_READ})")
    if address <= 0 or address + size > 1 << 64:
        raise MemoryReadError(errno.EFAULT, f"address {address:#x} is not a user address")


class ProcessMemory:
    """The memory of process ``pid`` (the host's pid).

    ``read`` raises :class:`MemoryReadError`; ``read_many`` batches reads into as few system
    calls as it can (one for a whole batch when every range is readable) and answers ``None``
    for the ranges it could not read. ``calls`` and ``bytes_read`` count what was done.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.calls = 0
        self.bytes_read = 0

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address`` in the target; raises :class:`MemoryReadError`."""
        check_range(address, size)
        if size == 0:
            return b""
        self.calls += 1
        try:
            data = calls().process_vm_readv(self.pid, address, size)
        except OSError as exc:
            raise MemoryReadError(exc.errno or errno.EIO, f"pid {self.pid}: {exc}") from None
        self.bytes_read += len(data)
        if len(data) != size:
            raise MemoryReadError(
                errno.EFAULT, f"pid {self.pid}: only {len(data)} of {size} bytes at {address:#x}"
            )
        return data

    def read_many(self, requests: Sequence[tuple[int, int]]) -> list[bytes | None]:
        """Each ``(address, size)`` read, or ``None`` where that range was not readable.

        The kernel stops a vectored read at the first range it cannot read and reports how many
        bytes it moved; the ranges after the failing one are tried again in a new call. A
        process that is gone (or unreadable as a whole) raises :class:`MemoryReadError`.
        """
        out: list[bytes | None] = [None] * len(requests)
        pending = []
        for i, (address, size) in enumerate(requests):
            if 0 < address and 0 < size <= MAX_READ and address + size <= 1 << 64:
                pending.append(i)  # else a hostile or corrupt size: never read, answered None
        while pending:
            batch = pending[:IOV_MAX]
            self.calls += 1
            try:
                data = calls().process_vm_readv_many(self.pid, [requests[i] for i in batch])
            except OSError as exc:
                if exc.errno == errno.EFAULT:  # the first range is unreadable: skip it
                    pending = pending[1:]
                    continue
                raise MemoryReadError(exc.errno or errno.EIO, f"pid {self.pid}: {exc}") from None
            self.bytes_read += len(data)
            at = done = 0
            for i in batch:
                size = requests[i][1]
                if at + size > len(data):
                    break
                out[i] = data[at : at + size]
                at += size
                done += 1
            # The range that stopped the kernel (if any) is skipped; the rest are tried again.
            pending = pending[done + (1 if done < len(batch) else 0) :]
        return out


def read_u64(memory: MemoryReader, address: int) -> int:
    """A little-endian u64 at ``address`` of any :class:`MemoryReader`."""
    return _U64.unpack(memory.read(address, 8))[0]
