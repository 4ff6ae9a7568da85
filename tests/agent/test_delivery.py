"""Delivery guarantees against real receivers on loopback: retries, outages, 429, spill bounds."""

from __future__ import annotations

import gzip
import os
import time

from pprof_encoder.builder import ProfileBuilder
from pprof_encoder.otlp import ResourceProfiles, encode_request
from profiler.export.delivery import Delivery, Payload, RetryPolicy, parse_retry_after
from profiler.export.files import DirectoryExporter
from profiler.export.otlp_grpc import OtlpGrpcExporter
from profiler.export.otlp_http import OtlpHttpExporter, parse_headers
from profiler.export.pyroscope import PyroscopeExporter, app_name
from tests.support import wait_for

from .receivers import OtlpGrpcReceiver, OtlpHttpReceiver, free_port, total_samples

FAST = RetryPolicy(initial=0.05, maximum=0.2)


def otlp_request(interval: int, samples: int = 3) -> bytes:
    """A small real OTLP request whose profile holds ``samples`` samples and names its interval."""
    b = ProfileBuilder([("samples", "count")], ("cpu", "nanoseconds"), 10_000_000)
    b.add_sample(["leaf", "main"], samples, {"interval": interval})
    res = ResourceProfiles({"service.name": "test-svc", "interval": interval}, [b.build()])
    return encode_request([res])


def intervals_of(receiver: OtlpHttpReceiver) -> list[int]:
    out = []
    for req in receiver.requests:
        for rp in req.resource_profiles:
            for kv in rp.resource.attributes:
                if kv.key == "interval":
                    out.append(kv.value.int_value)
    return out


def test_outage_then_recovery_delivers_every_interval_exactly_once():
    port = free_port()
    exporter = OtlpHttpExporter(f"http://127.0.0.1:{port}", headers={"authorization": "Bearer x"})
    delivery = Delivery("otlp", exporter, policy=FAST, seed=1)
    try:
        for i in range(4):
            delivery.submit(otlp_request(i))
        # The backend is down: retries happen, nothing is lost.
        wait_for(lambda: delivery.stats.retries >= 1, what="a retry")
        assert delivery.stats.sent == 0
        with OtlpHttpReceiver(port=port) as receiver:
            assert delivery.flush(timeout=10)
            assert intervals_of(receiver) == [0, 1, 2, 3]
            assert all(total_samples(r) == 3 for r in receiver.requests)
            path, headers, _ = receiver.raw[0]
            assert path == "/v1development/profiles"
            assert headers["content-type"] == "application/x-protobuf"
            assert headers["content-encoding"] == "gzip"
            assert headers["authorization"] == "Bearer x"
    finally:
        delivery.close(timeout=0)
        exporter.close()
    assert delivery.stats.sent == 4 and delivery.stats.dropped_overflow == 0


def test_429_with_retry_after_is_honoured_and_503_retried():
    def behaviour(n):
        return [(429, {"Retry-After": "1"}), (503, {}), (200, {})][min(n, 2)]

    with OtlpHttpReceiver(behaviour=behaviour) as receiver:
        exporter = OtlpHttpExporter(receiver.endpoint, compression="none")
        delivery = Delivery("otlp", exporter, policy=FAST, seed=2)
        delivery.submit(otlp_request(7))
        assert delivery.flush(timeout=10)
        delivery.close(timeout=0)
        assert len(receiver.raw) == 3
        assert receiver.times[1] - receiver.times[0] >= 0.95  # waited as Retry-After said
        assert intervals_of(receiver) == [7]
        assert "content-encoding" not in receiver.raw[2][1]


def test_other_4xx_is_not_retried_and_is_counted():
    with OtlpHttpReceiver(behaviour=lambda n: (400, {})) as receiver:
        exporter = OtlpHttpExporter(receiver.endpoint)
        delivery = Delivery("otlp", exporter, policy=FAST)
        delivery.submit(otlp_request(1))
        delivery.submit(otlp_request(2))
        assert delivery.flush(timeout=5)
        delivery.close(timeout=0)
        assert len(receiver.raw) == 2
        assert delivery.stats.dropped_rejected == 2 and delivery.stats.retries == 0


def test_memory_bound_drops_oldest_and_counts_it():
    sent = []

    def down(payload: Payload) -> None:
        raise ConnectionRefusedError("backend down")

    delivery = Delivery("x", down, max_queue_bytes=250, policy=RetryPolicy(10, 10))
    for i in range(5):
        delivery.submit(bytes([i]) * 100)
    assert delivery.stats.dropped_overflow >= 2
    assert delivery.stats.queued_bytes <= 250 or delivery.stats.queued == 1
    delivery._send = sent.append  # the backend comes back
    delivery.close(timeout=0)
    assert delivery.stats.queued <= 3


def test_spill_bound_and_restart_sends_what_was_spilled(tmp_path):
    spill = str(tmp_path / "spill")

    def down(payload: Payload) -> None:
        raise ConnectionRefusedError("backend down")

    first = Delivery(
        "otlp",
        down,
        max_queue_bytes=100,
        spill_dir=spill,
        max_spill_bytes=350,
        policy=RetryPolicy(10, 10),
    )
    for i in range(8):
        first.submit(bytes([i]) * 100)
    first.close(timeout=0)  # what is still in memory goes to disk too
    files = sorted(os.listdir(spill))
    total = sum(os.path.getsize(os.path.join(spill, f)) for f in files)
    assert total <= 350
    assert first.stats.dropped_overflow >= 4  # the oldest went first, counted

    got: list[bytes] = []
    second = Delivery("otlp", lambda p: got.append(p.data), spill_dir=spill, policy=FAST)
    assert second.flush(timeout=5)
    second.close(timeout=0)
    assert got == [bytes([i]) * 100 for i in range(8 - len(files), 8)]  # newest kept, in order
    assert os.listdir(spill) == []


def test_grpc_exporter_against_a_grpc_receiver():
    with OtlpGrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(receiver.endpoint, headers={"X-Token": "t"})
        try:
            exporter(Payload(0, otlp_request(5, samples=9)))
        finally:
            exporter.close()
        assert len(receiver.requests) == 1
        assert total_samples(receiver.requests[0]) == 9
        assert receiver.metadata[0]["x-token"] == "t"


def test_pyroscope_ingest_request_shape():
    with OtlpHttpReceiver(path="/ingest") as receiver:
        receiver.behaviour = lambda n: (204, {})
        exporter = PyroscopeExporter(receiver.endpoint, tenant="team-a")
        pprof = gzip.compress(b"\x0a\x00")
        exporter(
            Payload(
                0,
                pprof,
                {
                    "name": "svc",
                    "labels": {"pod": "p-1"},
                    "from": 10,
                    "until": 20,
                    "sample_rate": 99,
                },
            )
        )
        exporter.close()
        path, headers, body = receiver.raw[0]
        assert path.startswith("/ingest?")
        assert "name=svc.cpu%7Bpod%3Dp-1%7D" in path and "from=10" in path and "until=20" in path
        assert "format=pprof" in path
        assert headers["x-scope-orgid"] == "team-a"
        assert headers["content-type"].startswith("multipart/form-data; boundary=")
        assert pprof in body and b'name="profile"' in body
    assert app_name("a", {"k.x": "v,1"}) == "a.cpu{k_x=v_1}"


def test_directory_exporter_caps_size(tmp_path):
    out = DirectoryExporter(str(tmp_path), max_bytes=250)
    for i in range(6):
        out(Payload(i, b"x" * 100, {"until": 1000 + i}))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[-1].endswith("000005.pb.gz")


def test_header_and_retry_after_parsing():
    assert parse_headers("authorization=Bearer%20abc, x-a = 1") == {
        "authorization": "Bearer abc",
        "x-a": "1",
    }
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_retry_after_is_waited_out_whole_while_payloads_keep_coming():
    # Issue 14, row 10: a receiver says "Retry-After: 2"; the agent submits a payload every
    # 0.2 s (as intervals do). Before, every submit woke the sender and cut the wait short.
    def behaviour(n):
        return (429, {"Retry-After": "2"}) if n == 0 else (200, {})

    with OtlpHttpReceiver(behaviour=behaviour) as receiver:
        exporter = OtlpHttpExporter(receiver.endpoint, compression="none")
        delivery = Delivery("otlp", exporter, policy=FAST, seed=3)
        try:
            delivery.submit(otlp_request(0))
            wait_for(lambda: len(receiver.raw) == 1, what="the first attempt")
            for i in range(1, 9):
                delivery.submit(otlp_request(i))
                time.sleep(0.2)  # the pace of arrivals (not a wait for a condition)
            assert delivery.flush(timeout=15)
        finally:
            delivery.close(timeout=0)
        assert receiver.times[1] - receiver.times[0] >= 1.95
        assert sorted(intervals_of(receiver)) == list(range(9))  # every payload, once


def _tiny_tmpfs(path) -> None:
    import subprocess

    from tests.support import require_root, require_tool

    require_root()
    mount = require_tool("mount")
    path.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(path)], check=True)


def _umount(path) -> None:
    import subprocess

    subprocess.run(["umount", str(path)], check=False)


def test_a_full_spill_filesystem_is_counted_not_fatal(tmp_path):
    # Issue 14, row 6: the spill filesystem fills up. Before, the agent died of ENOSPC and left
    # ".payload.tmp" files; now each refusal is counted, the oldest payload is dropped (counted),
    # and nothing half-written stays on disk.
    spill = tmp_path / "spill"
    _tiny_tmpfs(spill)
    try:

        def down(payload: Payload) -> None:
            raise ConnectionRefusedError("backend down")

        delivery = Delivery(
            "otlp",
            down,
            max_queue_bytes=5000,
            spill_dir=str(spill),
            max_spill_bytes=1 << 20,  # the bound is not what stops it: the filesystem is
            policy=RetryPolicy(10, 10),
        )
        for i in range(12):
            delivery.submit(bytes([i]) * 4000)  # 48 KB through 16 KB of disk
        assert delivery._thread.is_alive()
        delivery.close(timeout=0)
        stats = delivery.stats
        assert stats.spill_errors >= 1 and stats.spilled >= 1
        assert stats.spilled + stats.dropped_overflow + stats.queued == 12
        leftovers = [n for n in os.listdir(spill) if not n.endswith(".payload")]
        assert leftovers == []
    finally:
        _umount(spill)


def test_a_read_only_spill_directory_keeps_payloads_in_memory(tmp_path):
    from tests.support import require_root

    require_root()  # root ignores mode bits: a read-only bind would be needed otherwise
    spill = tmp_path / "spill"
    _tiny_tmpfs(spill)
    try:
        import subprocess

        subprocess.run(["mount", "-o", "remount,ro", str(spill)], check=True)
        got: list[bytes] = []
        delivery = Delivery("otlp", lambda p: got.append(p.data), spill_dir=str(spill))
        delivery.submit(b"x" * 10)
        assert delivery.flush(timeout=5)
        delivery.close(timeout=0)
        assert got == [b"x" * 10]  # delivered from memory; the directory only counted errors
    finally:
        _umount(spill)
