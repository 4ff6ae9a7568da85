"""The perf buffer reader: synthetic rings (wrap-around, lost records, a model-based property
test) and the real kernel (bpf_perf_event_output from BPF_PROG_TEST_RUN)."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf import perf_buffer as pbuf
from pybpf.errors import MissingPrivilegesError
from pybpf.maps import MapType
from pybpf.syscall import Kernel, use_kernel

from .kernels import RecordingKernel, always
from .programs import expected_record
from .rings import emitter, pinned_to


class SyntheticRing:
    """A perf ring in plain memory, with a producer that writes like the kernel does."""

    def __init__(self, data_size: int) -> None:
        self.size = data_size
        self.mem = pbuf._ffi.new("char[]", pbuf.PAGE_SIZE + data_size)
        self.u64 = pbuf._ffi.cast("uint64_t *", self.mem)
        self.u64[pbuf.DATA_OFFSET_OFFSET // 8] = pbuf.PAGE_SIZE
        self.u64[pbuf.DATA_SIZE_OFFSET // 8] = data_size
        self.head = 0
        self.pending_lost = 0

    def _write(self, record: bytes) -> bool:
        tail = self.u64[pbuf.DATA_TAIL_OFFSET // 8]
        if self.head + len(record) - tail > self.size:
            return False
        data = pbuf._ffi.buffer(self.mem + pbuf.PAGE_SIZE, self.size)
        for i, byte in enumerate(record):
            data[(self.head + i) % self.size] = bytes([byte])
        self.head += len(record)
        self.u64[pbuf.DATA_HEAD_OFFSET // 8] = self.head
        return True

    def output(self, payload: bytes) -> bool:
        """Write a PERF_RECORD_SAMPLE with a RAW payload (padded as the kernel pads it)."""
        if self.pending_lost:
            lost = struct.pack("=IHHQQ", pbuf.PERF_RECORD_LOST, 0, 24, 7, self.pending_lost)
            if not self._write(lost):
                self.pending_lost += 1
                return False
            self.pending_lost = 0
        raw_size = (len(payload) + 4 + 7) // 8 * 8 - 4
        body = struct.pack("=I", raw_size) + payload.ljust(raw_size, b"\0")
        record = struct.pack("=IHH", pbuf.PERF_RECORD_SAMPLE, 0, 8 + len(body)) + body
        if not self._write(record):
            self.pending_lost += 1
            return False
        return True

    def reader(self) -> pbuf.PerfRing:
        return pbuf.PerfRing(self.mem, self.size, cpu=3)


def test_record_wrapping_around_the_end_is_reassembled():
    ring = SyntheticRing(64)
    reader = ring.reader()
    got = []
    assert ring.output(b"A" * 36)  # 48 bytes: head at 48
    assert reader.read(lambda cpu, raw: got.append((cpu, raw))) == 1
    assert ring.output(b"B" * 20)  # 32 bytes from 48: wraps after 16
    assert reader.read(lambda cpu, raw: got.append((cpu, raw))) == 1
    assert got == [(3, b"A" * 36), (3, b"B" * 20)]
    assert ring.u64[pbuf.DATA_TAIL_OFFSET // 8] == 80


def test_lost_records_are_counted_and_reported():
    ring = SyntheticRing(64)
    reader = ring.reader()
    assert ring.output(b"x" * 44)  # 56 bytes: the ring is nearly full
    assert not ring.output(b"y" * 8)
    assert not ring.output(b"z" * 8)
    reported = []
    assert reader.read(None, lambda cpu, n: reported.append(n)) == 1
    assert ring.output(b"w" * 4)  # LOST(2) goes first, then the sample
    assert reader.read(None, lambda cpu, n: reported.append(n)) == 1
    assert reported == [2]
    assert reader.lost == 2


def test_empty_ring_reads_nothing():
    ring = SyntheticRing(64)
    assert ring.reader().read(lambda cpu, raw: pytest.fail("no record")) == 0


def test_ring_size_must_be_a_power_of_two():
    mem = pbuf._ffi.new("char[]", pbuf.PAGE_SIZE + 96)
    with pytest.raises(ValueError, match="power of two"):
        pbuf.PerfRing(mem, 96)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(1, 60), st.just("read")),
        min_size=1,
        max_size=60,
    )
)
def test_model_every_payload_read_or_counted_lost(steps):
    """Any interleaving of outputs and reads: samples arrive in order, intact, and
    delivered + lost == written."""
    ring = SyntheticRing(128)
    reader = ring.reader()
    written, delivered = [], []
    for i, step in enumerate([*steps, "read", 1, "read"]):  # a final write flushes LOST
        if step == "read":
            reader.read(lambda cpu, raw: delivered.append(raw))
            continue
        payload = bytes([i % 251]) * step
        written.append(payload) if ring.output(payload) else None
    assert [d[: len(w)] for d, w in zip(delivered, written, strict=True)] == written
    attempted = sum(1 for s in steps if s != "read") + 1
    assert len(delivered) + reader.lost + ring.pending_lost == attempted


@pytest.mark.bpf
def test_records_arrive_in_order_and_intact_across_many_wraps(no_fd_leak):
    got: list[bytes] = []
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, emit), pinned_to(0):
        with pbuf.PerfBuffer(sink, lambda cpu, raw: got.append(raw), pages=1) as buf:
            assert buf.cpus == list(range(len(buf.cpus)))
            for _ in range(40):  # 40 x 50 records of 24-56 bytes through a 4 KiB ring
                emit(50)
                buf.poll(1000)
                buf.consume()
            assert buf.lost == 0
    assert len(got) == 2000
    for seq, raw in enumerate(got):
        want = expected_record(seq, vary_size=True)
        assert raw[: len(want)] == want
        # the kernel pads u32 size + data to 8 bytes (with whatever the ring held there)
        assert len(raw) == (len(want) + 4 + 7) // 8 * 8 - 4


@pytest.mark.bpf
def test_lost_samples_are_counted_when_nobody_reads(no_fd_leak):
    got: list[bytes] = []
    lost_reports: list[tuple[int, int]] = []
    with emitter(MapType.PERF_EVENT_ARRAY, vary_size=False) as (sink, emit), pinned_to(0):
        cpu = 0
        with pbuf.PerfBuffer(
            sink,
            lambda c, raw: got.append(raw),
            pages=1,
            lost_callback=lambda c, n: lost_reports.append((c, n)),
        ) as buf:
            emit(1000)  # 56-byte records: ~73 fit in 4 KiB
            first = buf.consume()
            emit(1)  # the kernel reports the loss with its next record
            buf.consume()
            assert 0 < first < 1000
            assert buf.lost == 1000 - first
            assert lost_reports == [(cpu, 1000 - first)]
            assert buf.lost_by_cpu()[cpu] == buf.lost
            assert len(got) == first + 1


@pytest.mark.bpf
def test_poll_times_out_empty_and_wakes_on_data(no_fd_leak):
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, emit):
        with pbuf.PerfBuffer(sink, None) as buf:
            assert buf.poll(0) == 0
            assert buf.poll(10) == 0
            emit(3)
            assert buf.poll(5000) == 3  # wakeup_events=1: the first sample wakes us
            assert os.readlink(f"/proc/self/fd/{buf.fileno()}") == "anon_inode:[eventpoll]"


@pytest.mark.bpf
def test_watermark_mode_defers_wakeup_until_consumed(no_fd_leak):
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, emit), pinned_to(0):
        with pbuf.PerfBuffer(sink, None, watermark_bytes=2048) as buf:
            emit(2)
            assert buf.poll(0) == 0  # below the watermark: no wakeup yet
            assert buf.consume() == 2


@pytest.mark.bpf
def test_close_releases_everything_once(no_fd_leak):
    fake = RecordingKernel()
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, _emit), use_kernel(fake):
        buf = pbuf.PerfBuffer(sink, None)
        buf.close()
        buf.close()
        with pytest.raises(ValueError, match="closed"):
            buf.poll(0)
    assert sorted(fake.closed) == sorted(fake.opened)


@pytest.mark.bpf
def test_pages_must_be_a_power_of_two(no_fd_leak):
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, _emit):
        with pytest.raises(ValueError, match="power of two"):
            pbuf.PerfBuffer(sink, None, pages=3)


class _FailSecondMmap(Kernel):
    def __init__(self):
        self.mmaps = 0
        self.unmapped = 0

    def mmap(self, length, prot, flags, fd, offset=0):
        self.mmaps += 1
        if self.mmaps == 2:
            raise OSError(errno.ENOMEM, "mmap: Cannot allocate memory")
        return super().mmap(length, prot, flags, fd, offset)

    def munmap(self, addr, length):
        self.unmapped += 1
        super().munmap(addr, length)


@pytest.mark.bpf
def test_failure_midway_releases_what_was_set_up(no_fd_leak):
    fake = _FailSecondMmap()
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, _emit), use_kernel(fake):
        with pytest.raises(OSError) as info:
            pbuf.PerfBuffer(sink, None, cpus=[0, 1])
        assert info.value.errno == errno.ENOMEM
        assert fake.unmapped == 1


@pytest.mark.bpf
def test_missing_privileges_is_explained(no_fd_leak):
    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, _emit):
        with use_kernel(RecordingKernel(always(errno.EACCES))):
            with pytest.raises(MissingPrivilegesError, match="perf_event_paranoid"):
                pbuf.PerfBuffer(sink, None)


def test_a_raising_callback_consumes_its_record_only():
    ring = SyntheticRing(256)
    reader = ring.reader()
    for payload in (b"a" * 4, b"b" * 4, b"c" * 4):
        assert ring.output(payload)

    def explode(cpu, raw):
        if raw == b"b" * 4:
            raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError):
        reader.read(explode)
    got = []
    assert reader.read(lambda cpu, raw: got.append(raw)) == 1
    assert got == [b"c" * 4]


@pytest.mark.bpf
def test_each_cpu_has_its_own_ring(no_fd_leak):
    from pybpf.perf_event import online_cpus

    by_cpu: dict[int, int] = {}

    def count(cpu: int, _raw: bytes) -> None:
        by_cpu[cpu] = by_cpu.get(cpu, 0) + 1

    with emitter(MapType.PERF_EVENT_ARRAY) as (sink, emit):
        with pbuf.PerfBuffer(sink, count) as buf:
            for n, cpu in enumerate(online_cpus(), start=1):
                with pinned_to(cpu):
                    emit(n)  # a different number per CPU, so the rings cannot be confused
            buf.consume()
    assert by_cpu == {cpu: n for n, cpu in enumerate(online_cpus(), start=1)}


@pytest.mark.bpf
def test_wrong_map_is_named(no_fd_leak):
    from pybpf.maps import MapSpec

    with MapSpec("not_perf", MapType.ARRAY, 4, 4, 4).create() as array:
        with pytest.raises(ValueError, match="not a PERF_EVENT_ARRAY"):
            pbuf.PerfBuffer(array, None)
    with MapSpec("small", MapType.PERF_EVENT_ARRAY, 4, 4, 1).create() as small:
        with pytest.raises(ValueError, match="CPU 1 needs a slot"):
            pbuf.PerfBuffer(small, None, cpus=[0, 1])
