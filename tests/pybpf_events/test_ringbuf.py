"""The BPF ring buffer reader: synthetic rings (busy and discarded records, wrap through the
double mapping) and the real kernel (bpf_ringbuf_output / reserve+discard from test_run)."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from pybpf import ringbuf
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.syscall import Kernel, use_kernel

from .programs import PATTERN, expected_record, reserve_and_discard_odd
from .rings import emitter


class SyntheticRing:
    """A ring buffer in plain memory whose data is mirrored after itself, as the kernel maps it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.positions = ringbuf._ffi.new("uint64_t[2]")  # consumer, producer
        self.data = ringbuf._ffi.new("char[]", 2 * size)
        self.prod = 0

    def put(self, payload: bytes, *, busy: bool = False, discard: bool = False) -> None:
        flags = (ringbuf.BUSY_BIT if busy else 0) | (ringbuf.DISCARD_BIT if discard else 0)
        record = struct.pack("=II", len(payload) | flags, 0) + payload
        record = record.ljust((len(record) + 7) // 8 * 8, b"\0")
        buf = ringbuf._ffi.buffer(self.data, 2 * self.size)
        for i, byte in enumerate(record):
            pos = (self.prod + i) % self.size
            buf[pos] = buf[pos + self.size] = bytes([byte])  # both views of the page
        self.prod += len(record)
        self.positions[1] = self.prod

    def reader(self) -> ringbuf.RingReader:
        return ringbuf.RingReader(self.positions, self.positions + 1, self.data, self.size)


def test_discarded_records_are_skipped_and_counted():
    ring = SyntheticRing(64)
    reader = ring.reader()
    ring.put(b"one")
    ring.put(b"gone", discard=True)
    ring.put(b"three!")
    got = []
    assert reader.read(got.append) == 2
    assert got == [b"one", b"three!"]
    assert reader.discarded == 1
    assert ring.positions[0] == ring.prod == 48


def test_reading_stops_at_a_busy_record():
    ring = SyntheticRing(64)
    reader = ring.reader()
    ring.put(b"done")
    ring.put(b"half-written", busy=True)
    got = []
    assert reader.read(got.append) == 1
    assert ring.positions[0] == 16  # consumer stops before the busy record
    assert reader.available() == 24


def test_a_record_across_the_end_reads_whole_through_the_mirror():
    ring = SyntheticRing(64)
    reader = ring.reader()
    ring.put(b"a" * 40)  # 48 bytes
    reader.read(None)
    ring.put(b"b" * 30)  # from 48 to 88: wraps
    got = []
    assert reader.read(got.append) == 1
    assert got == [b"b" * 30]


def test_limit_reads_only_that_many():
    ring = SyntheticRing(128)
    for i in range(5):
        ring.put(bytes([i]))
    reader = ring.reader()
    got = []
    assert reader.read(got.append, limit=2) == 2
    assert reader.read(got.append) == 3
    assert got == [bytes([i]) for i in range(5)]


def test_ring_size_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        ringbuf.RingReader(ringbuf._ffi.NULL, ringbuf._ffi.NULL, ringbuf._ffi.NULL, 96)


@pytest.mark.bpf
def test_records_arrive_in_order_and_intact_across_many_wraps(no_fd_leak):
    got: list[bytes] = []
    with emitter(MapType.RINGBUF, ring_size=4096) as (ring_map, emit):
        with ringbuf.RingBuffer(ring_map, got.append) as ring:
            assert ring.size == 4096
            for _ in range(40):  # 40 x 50 records of 16-48 bytes through a 4 KiB ring
                emit(50)
                ring.poll(1000)
            assert ring.available() == 0
    assert got == [expected_record(seq, vary_size=True) for seq in range(2000)]


@pytest.mark.bpf
def test_full_ring_drops_what_does_not_fit(no_fd_leak):
    got: list[bytes] = []
    with emitter(MapType.RINGBUF, ring_size=4096, vary_size=False) as (ring_map, emit):
        with ringbuf.RingBuffer(ring_map, got.append) as ring:
            emit(500)  # 48-byte records: 85 fit in 4 KiB
            assert ring.consume() == 4096 // 48
            emit(1)
            assert ring.consume() == 1
    assert got[-1] == expected_record(500, vary_size=False)


@pytest.mark.bpf
def test_discarded_reservations_are_skipped(no_fd_leak):
    got: list[bytes] = []
    with (
        MapSpec("ring", MapType.RINGBUF, 0, 0, 4096).create() as ring_map,
        MapSpec("seq", MapType.ARRAY, 4, 8, 1).create() as counter,
    ):
        spec = ProgramSpec(
            "discard", ProgramType.SOCKET_FILTER, reserve_and_discard_odd(ring_map, counter)
        )
        with spec.load() as prog, ringbuf.RingBuffer(ring_map, got.append) as ring:
            prog.test_run(data_in=bytes(64), repeat=10)
            assert ring.poll(1000) == 5
            assert ring.discarded == 5
    assert got == [seq.to_bytes(8, "little") + PATTERN[:8] for seq in range(0, 10, 2)]


@pytest.mark.bpf
def test_poll_times_out_empty_and_wakes_on_data(no_fd_leak):
    with emitter(MapType.RINGBUF) as (ring_map, emit):
        with ringbuf.RingBuffer(ring_map) as ring:
            assert ring.poll(0) == 0
            assert ring.poll(10) == 0
            emit(4)
            assert ring.poll(5000) == 4
            assert os.readlink(f"/proc/self/fd/{ring.fileno()}") == "anon_inode:[eventpoll]"


@pytest.mark.bpf
def test_wake_ends_a_wait_from_another_thread(no_fd_leak):
    import threading
    import time

    with emitter(MapType.RINGBUF) as (ring_map, _emit):
        with ringbuf.RingBuffer(ring_map) as ring:
            result: list[bool] = []
            waiter = threading.Thread(target=lambda: result.append(ring.wait(-1)))
            waiter.start()
            time.sleep(0.2)  # the waiter is asleep in epoll by now (nothing else wakes it)
            assert waiter.is_alive()
            ring.wake()
            waiter.join(5)
            assert not waiter.is_alive() and result == [False]  # woken, and no records


class _CountingMmaps(Kernel):
    def __init__(self, fail_on: int | None = None):
        self.fail_on = fail_on
        self.mapped = 0
        self.unmapped = 0

    def mmap(self, length, prot, flags, fd, offset=0):
        if self.mapped + 1 == self.fail_on:
            raise OSError(errno.EPERM, "mmap: Operation not permitted")
        self.mapped += 1
        return super().mmap(length, prot, flags, fd, offset)

    def munmap(self, addr, length):
        self.unmapped += 1
        super().munmap(addr, length)


@pytest.mark.bpf
def test_close_unmaps_both_regions_once(no_fd_leak):
    fake = _CountingMmaps()
    with emitter(MapType.RINGBUF) as (ring_map, _emit), use_kernel(fake):
        ring = ringbuf.RingBuffer(ring_map)
        ring.close()
        ring.close()
        with pytest.raises(ValueError, match="closed"):
            ring.poll(0)
    assert fake.mapped == fake.unmapped == 2


@pytest.mark.bpf
def test_failed_second_mapping_releases_the_first(no_fd_leak):
    fake = _CountingMmaps(fail_on=2)
    with emitter(MapType.RINGBUF) as (ring_map, _emit), use_kernel(fake):
        with pytest.raises(OSError) as info:
            ringbuf.RingBuffer(ring_map)
        assert info.value.errno == errno.EPERM
    assert fake.mapped == fake.unmapped == 1


def test_a_raising_callback_consumes_its_record_only():
    ring = SyntheticRing(128)
    for payload in (b"a", b"b", b"c"):
        ring.put(payload)
    reader = ring.reader()

    def explode(record):
        if record == b"b":
            raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError):
        reader.read(explode)
    got = []
    assert reader.read(got.append) == 1
    assert got == [b"c"]


@pytest.mark.bpf
def test_wrong_map_is_named(no_fd_leak):
    with MapSpec("not_ring", MapType.ARRAY, 4, 4, 4).create() as array:
        with pytest.raises(ValueError, match="not a RINGBUF"):
            ringbuf.RingBuffer(array)
