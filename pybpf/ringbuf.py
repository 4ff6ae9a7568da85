"""BPF ring buffer reader (``BPF_MAP_TYPE_RINGBUF``, Linux 5.8+).

One ring shared by all CPUs; the map's ``max_entries`` is its size in bytes (a power of two,
at least a page). The map fd is mapped in two parts (kernel/bpf/ringbuf.c):

- offset 0, one page, read-write: ``consumer_pos``, which only we advance;
- offset one page, read-only: the page holding ``producer_pos``, then the data pages, which the
  kernel maps *twice* back to back, so a record that wraps around the end of the ring reads as
  one contiguous piece (``data + (pos & mask)`` for up to ``size`` bytes).

Each record starts with an 8-byte header ``u32 len; u32 pg_off``: bit 31 of ``len`` (BUSY) is
set while the producer is still writing it, bit 30 (DISCARD) when it was discarded; records are
8-byte aligned (``(len + 8 + 7) & ~7``). Reading stops at the first busy record; discarded ones
are skipped. Ordering is as in :mod:`pybpf.perf_buffer`: producer_pos and each header are loaded
before the data they guard, consumer_pos is stored after the data was copied.

The map fd itself is pollable: :meth:`RingBuffer.poll` waits on it with epoll.
"""

from __future__ import annotations

import mmap
import os
import select
from collections.abc import Callable

from .abi import ffi as _ffi
from .lifecycle import Closeable, close_all
from .perf_buffer import memory_fence
from .syscall import kernel

PAGE_SIZE = mmap.PAGESIZE
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HEADER_SIZE = 8  # BPF_RINGBUF_HDR_SZ
RINGBUF_MAP_TYPE = 27  # BPF_MAP_TYPE_RINGBUF


class RingReader:
    """Reads records between ``consumer_pos`` and ``producer_pos`` of one ring's memory.

    ``consumer`` and ``producer`` point at the two position words, ``data`` at the (doubly
    mapped) data of ``size`` bytes. Works on synthetic memory too, for tests.
    """

    def __init__(self, consumer: object, producer: object, data: object, size: int) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring size {size} is not a power of two")
        self._consumer = _ffi.cast("uint64_t *", consumer)
        self._producer = _ffi.cast("uint64_t *", producer)
        self._data = _ffi.cast("char *", data)
        self.size = size
        self.discarded = 0

    def read(self, callback: Callable[[bytes], None] | None, limit: int | None = None) -> int:
        """Hand each complete, non-discarded record to ``callback``; return how many.

        Stops at a record still being written (BUSY), or after ``limit`` records. A callback
        that raises stops the reading; the record it was given is consumed.
        """
        cons = self._consumer[0]
        prod = self._producer[0]  # load-acquire (see the module docstring)
        memory_fence()
        mask, data = self.size - 1, self._data
        handed = 0
        header = _ffi.cast("uint32_t *", data)
        while cons < prod and (limit is None or handed < limit):
            length = header[(cons & mask) // 4]  # load-acquire of the record's header
            memory_fence()
            if length & BUSY_BIT:
                break
            size = length & ~(BUSY_BIT | DISCARD_BIT)
            start = (cons & mask) + HEADER_SIZE
            record = None if length & DISCARD_BIT else _ffi.buffer(data + start, size)[:]
            # Copied out (contiguous: the data is mapped twice): give the space back record by
            # record, before the callback, so a callback that raises does not see it again.
            cons += (size + HEADER_SIZE + 7) & ~7
            memory_fence()
            self._consumer[0] = cons  # store-release
            if record is None:
                self.discarded += 1
                continue
            handed += 1
            if callback is not None:
                callback(record)
        return handed

    def available(self) -> int:
        """Bytes written by the producer and not yet consumed."""
        return self._producer[0] - self._consumer[0]


class RingBuffer(Closeable):
    """A consumer of one ``BPF_MAP_TYPE_RINGBUF`` map: ``callback(record: bytes)`` per record.

    Close it (or use ``with``): the two mappings and the epoll fd are released exactly once;
    the map stays owned by its creator.
    """

    KIND = "ring buffer"

    def __init__(self, ring_map: object, callback: Callable[[bytes], None] | None = None) -> None:
        if int(ring_map.spec.type) != RINGBUF_MAP_TYPE:
            raise ValueError(f"map {ring_map.name!r} is not a RINGBUF (type {ring_map.spec.type})")
        self.callback = callback
        size = ring_map.spec.max_entries
        self._map = ring_map
        self._mappings: list[tuple[object, int]] = []
        self._epoll = select.epoll()
        # An eventfd in the same epoll set: wake() ends a wait from another thread.
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        k = kernel()
        try:
            consumer = k.mmap(
                PAGE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, ring_map.fd, 0
            )
            self._mappings.append((consumer, PAGE_SIZE))
            producer_length = PAGE_SIZE + 2 * size
            producer = k.mmap(
                producer_length, mmap.PROT_READ, mmap.MAP_SHARED, ring_map.fd, PAGE_SIZE
            )
            self._mappings.append((producer, producer_length))
            data = _ffi.cast("char *", producer) + PAGE_SIZE
            self._reader = RingReader(consumer, producer, data, size)
            self._epoll.register(ring_map.fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        """The ring's data size in bytes."""
        return self._reader.size

    @property
    def discarded(self) -> int:
        """Records the program discarded (skipped by the reader)."""
        return self._reader.discarded

    def available(self) -> int:
        """Bytes waiting to be read."""
        self._check_open()
        return self._reader.available()

    def fileno(self) -> int:
        """The epoll fd: readable when the ring has data (to nest in another event loop)."""
        return self._epoll.fileno()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait up to ``timeout_ms`` (-1: forever) until the kernel signals records or another
        thread calls :meth:`wake`; True if records are there. Reads nothing.

        The kernel signals when a program submits without ``BPF_RB_NO_WAKEUP`` (or with
        ``BPF_RB_FORCE_WAKEUP``): a program can batch wake-ups, e.g. at a fill threshold.
        """
        self._check_open()
        if self._reader.available() == 0:
            for fd, _ in self._epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1):
                if fd == self._wake_fd:
                    try:
                        os.eventfd_read(self._wake_fd)
                    except BlockingIOError:
                        pass
        return self._reader.available() > 0

    def wake(self) -> None:
        """End a :meth:`wait` (or :meth:`poll`) in progress in another thread."""
        self._check_open()
        os.eventfd_write(self._wake_fd, 1)

    def poll(self, timeout_ms: int = -1) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) for records, then read them all.

        Returns the number of records handed to the callback.
        """
        self.wait(timeout_ms)
        return self._reader.read(self.callback)

    def consume(self, limit: int | None = None) -> int:
        """Read the records there now (at most ``limit``) without waiting."""
        self._check_open()
        return self._reader.read(self.callback, limit)

    def _release(self) -> None:
        """Unmap the ring and close the epoll fd."""
        k = kernel()
        mappings, self._mappings = self._mappings, []
        close_all(
            [
                *(lambda m=m: k.munmap(*m) for m in mappings),
                self._epoll.close,
                lambda: os.close(self._wake_fd),
            ]
        )
