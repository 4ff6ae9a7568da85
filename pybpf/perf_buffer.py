"""Perf buffer reader: per-CPU mmap'd rings behind a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` map.

For each online CPU, :class:`PerfBuffer` opens a ``PERF_COUNT_SW_BPF_OUTPUT`` software event
(``sample_type = PERF_SAMPLE_RAW``), maps ``1 + 2^n`` pages of it (the control page
``struct perf_event_mmap_page``, then the ring), stores the event's fd in the map at index
``cpu`` and waits for all of them with one epoll. A program's ``bpf_perf_event_output(ctx, map,
BPF_F_CURRENT_CPU, data, size)`` then lands in the ring of the CPU it ran on.

Records in a ring (``struct perf_event_header { u32 type; u16 misc; u16 size; }`` then the body)
are 8-byte aligned, so a header never straddles the end of the ring but a body may: such records
are reassembled from the two pieces. ``PERF_RECORD_SAMPLE`` bodies are ``u32 size; u8
data[size]`` — the kernel pads ``data`` so that ``4 + size`` is a multiple of 8 (the padding
bytes are whatever the ring held), so a callback gets its payload plus up to 7 bytes of padding.
``PERF_RECORD_LOST`` (``u64 id; u64 lost``) says how many samples did not fit;
they are counted in :attr:`PerfBuffer.lost`.

Memory ordering (the kernel's side is ``perf_output_put_handle``: write the data, ``smp_wmb``,
then publish ``data_head``). The reader must *load-acquire* ``data_head`` before reading the data
and *store-release* ``data_tail`` after it, or the kernel may overwrite a record we are still
copying. In Python the order is: read head, copy the records out, write tail. Each of those is a
separate cffi access (an opaque call from the C compiler's point of view, so it cannot be
reordered at compile time). On x86-64 (TSO) the hardware keeps loads in order with earlier loads
and stores in order with earlier loads, so plain loads and stores *are* acquire and release. On
other architectures :func:`memory_fence` is issued between the steps (a mutex unlock + lock:
a release then an acquire, which arm64 orders as a full barrier).
"""

from __future__ import annotations

import mmap
import platform
import select
import struct
from collections.abc import Callable, Iterable

from .abi import ffi as _ffi
from .abi import libc as _libc
from .lifecycle import Closeable, close_all
from .perf_event import (
    PerfEvent,
    PerfType,
    SampleType,
    SoftwareEvent,
    new_attr,
    online_cpus,
    open_perf_event,
)
from .syscall import kernel

PAGE_SIZE = mmap.PAGESIZE
# Offsets in struct perf_event_mmap_page (linux/perf_event.h): the first 1 KiB is the
# self-monitoring header, then the ring's control words.
DATA_HEAD_OFFSET = 1024
DATA_TAIL_OFFSET = 1032
DATA_OFFSET_OFFSET = 1040
DATA_SIZE_OFFSET = 1048

PERF_EVENT_ARRAY_MAP_TYPE = 4  # BPF_MAP_TYPE_PERF_EVENT_ARRAY
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
HEADER = struct.Struct("=IHH")  # struct perf_event_header
LOST_BODY = struct.Struct("=QQ")  # u64 id; u64 lost
RAW_SIZE = struct.Struct("=I")

_STRONGLY_ORDERED = platform.machine() in ("x86_64", "AMD64", "i686", "i386")
_fence_mutex = None if _STRONGLY_ORDERED else _ffi.new("pthread_mutex_t *")


def memory_fence() -> None:
    """Order the loads/stores before this call with those after it (no-op on x86-64, TSO)."""
    if _fence_mutex is not None:
        _libc.pthread_mutex_lock(_fence_mutex)
        _libc.pthread_mutex_unlock(_fence_mutex)


class PerfRing:
    """One CPU's ring: ``base`` points at the control page; the data follows it.

    Reading works on any memory laid out like ``perf_event_mmap_page`` + ring, so tests can
    feed it synthetic rings (wrap-around, lost records) as well as the kernel's.
    """

    def __init__(self, base: object, data_size: int, cpu: int = -1) -> None:
        self.cpu = cpu
        self.base = _ffi.cast("char *", base)
        self._u64 = _ffi.cast("uint64_t *", self.base)
        data_offset = self._u64[DATA_OFFSET_OFFSET // 8] or PAGE_SIZE  # 0 before Linux 4.1
        self.data_size = self._u64[DATA_SIZE_OFFSET // 8] or data_size
        if self.data_size & (self.data_size - 1):
            raise ValueError(f"ring size {self.data_size} is not a power of two")
        self.data = self.base + data_offset
        self.lost = 0

    def read(
        self,
        on_sample: Callable[[int, bytes], None] | None,
        on_lost: Callable[[int, int], None] | None = None,
    ) -> int:
        """Hand every complete record to the callbacks; return how many samples were read.

        A callback that raises stops the reading; the records up to and including the one it
        was given are consumed, the rest stay in the ring for the next call.
        """
        head = self._u64[DATA_HEAD_OFFSET // 8]  # load-acquire (see the module docstring)
        memory_fence()
        tail = self._u64[DATA_TAIL_OFFSET // 8]
        if tail == head:
            return 0
        size, mask, data = self.data_size, self.data_size - 1, self.data
        samples = 0
        try:
            while tail < head:
                offset = tail & mask
                rtype, _misc, rsize = HEADER.unpack(_ffi.buffer(data + offset, HEADER.size))
                if rsize < HEADER.size:  # a corrupt ring: stop rather than loop forever
                    raise ValueError(f"perf ring of cpu {self.cpu}: record of size {rsize}")
                if offset + rsize <= size:
                    record = _ffi.buffer(data + offset, rsize)[:]
                else:  # the record wraps around the end of the ring: reassemble it
                    first = size - offset
                    record = (
                        _ffi.buffer(data + offset, first)[:] + _ffi.buffer(data, rsize - first)[:]
                    )
                # Copied out: the record is consumed even if a callback raises below.
                tail += rsize
                if rtype == PERF_RECORD_SAMPLE:
                    (raw_size,) = RAW_SIZE.unpack_from(record, HEADER.size)
                    start = HEADER.size + RAW_SIZE.size
                    samples += 1
                    if on_sample is not None:
                        on_sample(self.cpu, record[start : start + raw_size])
                elif rtype == PERF_RECORD_LOST:
                    _id, lost = LOST_BODY.unpack_from(record, HEADER.size)
                    self.lost += lost
                    if on_lost is not None:
                        on_lost(self.cpu, lost)
        finally:
            memory_fence()
            self._u64[DATA_TAIL_OFFSET // 8] = tail  # store-release: the space is the kernel's
        return samples


def _check_map(perf_map: object, cpus: list[int]) -> None:
    """Fail early, naming the problem, when the map cannot hold one event per CPU."""
    spec = getattr(perf_map, "spec", None)
    if spec is None:
        return
    if int(spec.type) != PERF_EVENT_ARRAY_MAP_TYPE:
        raise ValueError(f"map {perf_map.name!r} is not a PERF_EVENT_ARRAY (type {spec.type})")
    if cpus and spec.max_entries <= max(cpus):
        raise ValueError(
            f"map {perf_map.name!r} has {spec.max_entries} entries but CPU {max(cpus)} needs "
            "a slot: give it max_entries = the number of possible CPUs"
        )


class PerfBuffer(Closeable):
    """Per-CPU perf rings fed by a ``PERF_EVENT_ARRAY`` map, read with :meth:`poll`.

    ``callback(cpu, raw: bytes)`` gets each sample's raw payload (with the kernel's padding:
    ``4 + len(raw)`` is a multiple of 8, the padding bytes are unspecified);
    ``lost_callback(cpu, n)`` gets each ``PERF_RECORD_LOST``.
    ``pages`` (a power of two) is each ring's size in pages. The kernel wakes :meth:`poll` after
    every ``wakeup_events`` samples, or with ``watermark_bytes`` after that many bytes.
    Close it (or use ``with``): events, mappings and the epoll fd are released exactly once.
    """

    KIND = "perf buffer"

    def __init__(
        self,
        perf_map: object,
        callback: Callable[[int, bytes], None] | None = None,
        *,
        pages: int = 8,
        lost_callback: Callable[[int, int], None] | None = None,
        wakeup_events: int = 1,
        watermark_bytes: int | None = None,
        cpus: Iterable[int] | None = None,
    ) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two, got {pages}")
        cpus = online_cpus() if cpus is None else list(cpus)
        _check_map(perf_map, cpus)
        self.callback = callback
        self.lost_callback = lost_callback
        self.pages = pages
        self._map = perf_map
        self._events: list[PerfEvent] = []
        self._mappings: list[tuple[object, int]] = []
        self._rings: dict[int, PerfRing] = {}  # by event fd
        self._slots: list[int] = []  # map indexes we filled
        self._epoll = select.epoll()
        try:
            for cpu in cpus:
                self._open_cpu(cpu, wakeup_events, watermark_bytes)
        except BaseException:
            self.close()
            raise

    def _open_cpu(self, cpu: int, wakeup_events: int, watermark_bytes: int | None) -> None:
        wakeup = (
            {"watermark": 1, "wakeup_watermark": watermark_bytes}
            if watermark_bytes is not None
            else {"wakeup_events": wakeup_events}
        )
        attr = new_attr(
            type=PerfType.SOFTWARE,
            config=SoftwareEvent.BPF_OUTPUT,
            sample_type=SampleType.RAW,
            sample_period=1,
            **wakeup,
        )
        event = open_perf_event(attr, pid=-1, cpu=cpu, description=f"bpf-output on cpu {cpu}")
        self._events.append(event)
        length = PAGE_SIZE * (1 + self.pages)
        k = kernel()
        base = k.mmap(length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, event.fd, 0)
        self._mappings.append((base, length))
        self._rings[event.fd] = PerfRing(base, PAGE_SIZE * self.pages, cpu)
        self._map.update(cpu, event.fd)
        self._slots.append(cpu)
        event.enable()
        self._epoll.register(event.fd, select.EPOLLIN)

    @property
    def cpus(self) -> list[int]:
        """The CPUs with a ring."""
        return [ring.cpu for ring in self._rings.values()]

    @property
    def lost(self) -> int:
        """Samples the kernel dropped because a ring was full (from PERF_RECORD_LOST)."""
        return sum(ring.lost for ring in self._rings.values())

    def lost_by_cpu(self) -> dict[int, int]:
        """Dropped samples per CPU."""
        return {ring.cpu: ring.lost for ring in self._rings.values()}

    def fileno(self) -> int:
        """The epoll fd: readable when a ring has data (to nest in another event loop)."""
        return self._epoll.fileno()

    def poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) for data, read the rings that have some.

        Returns the number of samples handed to the callback.
        """
        self._check_open()
        ready = self._epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1)
        return sum(self._rings[fd].read(self.callback, self.lost_callback) for fd, _ in ready)

    def consume(self) -> int:
        """Read every ring now, without waiting (records below the wakeup threshold too)."""
        self._check_open()
        return sum(ring.read(self.callback, self.lost_callback) for ring in self._rings.values())

    def _release(self) -> None:
        """Disable and close the events, unmap the rings, close the epoll fd."""
        k = kernel()
        slots, self._slots = self._slots, []
        mappings, self._mappings = self._mappings, []
        self._rings.clear()
        # The map holds its own reference to each event: drop it, or the events live on until
        # the map is closed.
        close_all(
            [
                *(lambda cpu=cpu: self._forget_slot(cpu) for cpu in slots),
                *(lambda m=m: k.munmap(*m) for m in mappings),
                *(event.close for event in self._events),
                self._epoll.close,
            ]
        )

    def _forget_slot(self, cpu: int) -> None:
        try:
            self._map.delete(cpu)
        except (KeyError, ValueError):  # already gone, or the map was closed first
            pass
