"""pybpf events: the cost of the sampler program and of reading records out of the kernel.

Run (root): python -m pytest bench/test_bench_events.py -p no:cacheprovider -s

- Sampler: our count_samples program (examples/count_samples.py) and bpftrace's
  ``profile:hz:997 { @[cpu] = count(); }`` sample every CPU at 997 Hz *at the same time*, with
  BPF run-time statistics on (``BPF_ENABLE_STATS``); each program's run_time_ns / run_cnt is
  its cost per sample. The ratio is printed.
- Readers: 10 000 records of 40 bytes emitted with BPF_PROG_TEST_RUN, then read by
  ``PerfBuffer`` (perf event array) and by ``RingBuffer`` (BPF ring buffer); time per record
  and the ratio are printed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path

import pytest

from pybpf import bpf_commands
from pybpf.attach import attach_perf_events
from pybpf.maps import MapSpec, MapType
from pybpf.perf_buffer import PerfBuffer
from pybpf.perf_event import open_cpu_clock_on_cpus
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.ringbuf import RingBuffer
from pybpf.structs import u64
from tests.pybpf_events.rings import emitter, pinned_to
from tests.support import require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
N = 10_000
ROUNDS = 5
per_record_s: dict[str, float] = {}


def _example():
    spec = importlib.util.spec_from_file_location(
        "count_samples", ROOT / "examples/count_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bpftool_prog(name: str) -> dict | None:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    progs = [p for p in json.loads(out.stdout or "[]") if p.get("name") == name]
    return progs[-1] if progs else None


def test_sampler_cost_per_sample_vs_bpftrace(benchmark, capsys):
    require_root()
    bpftrace = require_tool("bpftrace")
    require_tool("bpftool")
    seconds = 3
    stats_fd = bpf_commands.enable_stats()  # run_time_ns / run_cnt counted while it is open
    try:
        peer = subprocess.Popen(
            [bpftrace, "-e", "profile:hz:997 { @[cpu] = count(); }"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while _bpftool_prog("997") is None and time.monotonic() < deadline:
                time.sleep(0.05)
            example = _example()
            with MapSpec("counts", MapType.PERCPU_ARRAY, 4, value_struct=u64).create() as counts:
                spec = ProgramSpec(
                    "count_samples", ProgramType.PERF_EVENT, example.sample_counter(counts)
                )
                with (
                    spec.load() as prog,
                    open_cpu_clock_on_cpus(freq=997, disabled=True) as events,
                    attach_perf_events(prog, events),
                ):
                    peer_before = _bpftool_prog("997") or {}
                    ours_before = prog.info()
                    benchmark.pedantic(time.sleep, args=(seconds,), rounds=1, iterations=1)
                    ours_after = prog.info()
                    peer_after = _bpftool_prog("997") or {}
        finally:
            peer.terminate()
            peer.wait()
    finally:
        bpf_commands.close_fd(stats_fd)
    ours_runs = ours_after.run_cnt - ours_before.run_cnt
    ours_ns = (ours_after.run_time_ns - ours_before.run_time_ns) / max(ours_runs, 1)
    peer_runs = peer_after.get("run_cnt", 0) - peer_before.get("run_cnt", 0)
    peer_ns = (peer_after.get("run_time_ns", 0) - peer_before.get("run_time_ns", 0)) / max(
        peer_runs, 1
    )
    assert ours_runs > 0 and peer_runs > 0
    benchmark.extra_info.update(ours_ns=ours_ns, bpftrace_ns=peer_ns)
    with capsys.disabled():
        print(
            f"\nsampler cost per sample at 997 Hz, {seconds} s, same window: "
            f"ours {ours_ns:.0f} ns ({ours_runs} runs), bpftrace {peer_ns:.0f} ns "
            f"({peer_runs} runs): bpftrace/ours = {peer_ns / ours_ns:.2f}"
        )


@pytest.mark.parametrize("kind", ["perf_buffer", "ringbuf"])
def test_read_10k_records(kind, benchmark, capsys):
    require_root()
    sink_type = MapType.PERF_EVENT_ARRAY if kind == "perf_buffer" else MapType.RINGBUF
    received = []
    with (
        emitter(sink_type, ring_size=1 << 20, vary_size=False) as (sink, emit),
        pinned_to(0),
    ):
        if kind == "perf_buffer":
            reader = PerfBuffer(sink, lambda cpu, raw: received.append(raw), pages=256)
        else:
            reader = RingBuffer(sink, received.append)
        with reader:
            benchmark.pedantic(
                reader.consume,
                setup=lambda: (received.clear(), emit(N)) and None,
                rounds=ROUNDS,
                iterations=1,
            )
            assert len(received) == N
    per_record_s[kind] = benchmark.stats.stats.median / N
    if len(per_record_s) == 2:
        ratio = per_record_s["perf_buffer"] / per_record_s["ringbuf"]
        with capsys.disabled():
            print(
                f"\nread {N} records of 40 bytes (median of {ROUNDS}): perf buffer "
                f"{per_record_s['perf_buffer'] * 1e6:.2f} us/record, ring buffer "
                f"{per_record_s['ringbuf'] * 1e6:.2f} us/record: perf/ring = {ratio:.2f}"
            )
