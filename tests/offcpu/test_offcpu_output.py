"""Off-CPU and wall views from recorded samples: no root, no kernel.

pprof with the four sample types side by side, OTLP shaped the way Pyroscope maps profile types
(its rule, restated here: ``type:unit:period_type:period_unit`` with the period part empty when
the period is 0; ``samples:count:cpu:nanoseconds`` is process_cpu, ``off_cpu:nanoseconds::`` is
off_cpu), folded per sample type, the wall view per thread, state names, durations.
"""

from __future__ import annotations

import gzip
from types import SimpleNamespace

import pytest
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
)

from pprof_encoder import parse
from pprof_encoder.otlp import decode_request
from profiler.bpf import offcpu_program as op
from profiler.bpf.offcpu_stats import OffCpuStats
from profiler.bpf.samples import RawSample
from profiler.cli.flags import parse_duration_ns
from profiler.frames.model import KERNEL, KERNEL_MODULE, Frame, Module, SymbolizedSample
from profiler.frames.pipeline import Pipeline
from profiler.output.collected import CollectedProfile
from profiler.output.off_cpu import (
    OffCpuInfo,
    cpu_part,
    off_cpu_status,
    otlp_parts,
    sample_values,
)
from profiler.output.pprof import build_otlp
from profiler.output.wall_view import off_cpu_summary, thread_times, wall_table

APP = Module("/bin/app", start=0x1000, limit=0x9000)
LIBC = Module("/lib/libc.so.6", start=0x2000, limit=0x3000)
MAIN = Frame("main", address=0x1000, module=APP)
SPIN = Frame("spin", address=0x1100, module=APP)
READ = Frame("read", address=0x2000, module=LIBC)
SCHEDULE = Frame("__schedule", address=0xFFFF0000, module=KERNEL_MODULE, kind=KERNEL)
LABELS = {"pid": 10, "process_name": "app", "executable": "/bin/app"}


def sample(tid: int, frames, count=0, off=0, state=""):
    labels = {**LABELS, "tid": tid, "thread_name": f"t{tid}"}
    if state:
        labels["thread.state"] = state
    return SymbolizedSample(tuple(frames), count, labels, off_cpu_ns=off)


def profile(view: str = "", p: float = 1.0) -> CollectedProfile:
    stats = OffCpuStats(blocks=3, below_min=7, below_min_ns=4000, unmatched_switch_outs=1)
    return CollectedProfile(
        samples=[
            sample(11, (SPIN, MAIN), count=100),  # CPU: 100 ticks at 100 Hz = 1 s
            sample(11, (SCHEDULE, SPIN, MAIN), off=250_000_000, state="runnable"),
            sample(12, (SCHEDULE, READ, MAIN), off=1_200_000_000, state="sleeping"),
            sample(12, (READ, MAIN), count=1),
        ],
        freq=100,
        start_time=1_700_000_000.0,
        duration=1.25,
        off_cpu=OffCpuInfo(min_ns=1000, sample=p, scale=1 / p, hook="tracepoint", stats=stats),
        view=view,
    )


def test_pprof_has_the_four_sample_types_side_by_side():
    pprof = parse(gzip.decompress(profile(view="wall").encode("pprof")))
    pprof.check_valid()
    assert [(vt.type, vt.unit) for vt in pprof.sample_type] == [
        ("samples", "count"),
        ("cpu", "nanoseconds"),
        ("off_cpu", "nanoseconds"),
        ("wall", "nanoseconds"),
    ]
    assert pprof.default_sample_type == "wall"
    assert (pprof.period_type.type, pprof.period) == ("cpu", 10_000_000)
    totals = [sum(s.values[i] for s in pprof.samples) for i in range(4)]
    assert totals == [101, 1_010_000_000, 1_450_000_000, 2_460_000_000]
    states = {lb.str for s in pprof.samples for lb in s.labels if lb.key == "thread.state"}
    assert states == {"runnable", "sleeping"}
    text = "\n".join(pprof.comments)
    assert "blocks shorter than 1 us" in text and "7 blocks below the minimum" in text
    assert "sampled" not in text


def test_sampling_is_said_in_the_comments():
    pprof = parse(gzip.decompress(profile(p=0.25).encode("pprof")))
    text = "\n".join(pprof.comments)
    assert "p = 0.25" in text and "1/p = 4" in text
    assert pprof.default_sample_type == "cpu"


def test_cpu_only_profile_is_unchanged():
    cpu_only = CollectedProfile(
        samples=[sample(11, (SPIN, MAIN), count=3)], freq=100, start_time=0, duration=1
    )
    pprof = parse(gzip.decompress(cpu_only.encode("pprof")))
    assert [vt.type for vt in pprof.sample_type] == ["samples", "cpu"]
    assert pprof.samples[0].values == [3, 30_000_000]


def pyroscope_profile_type(p) -> str:
    """Pyroscope's name for an OTLP profile's type (its convert.go rule, restated)."""
    period = f"{p.period_type.type}:{p.period_type.unit}" if p.period_type and p.period else ":"
    return f"{p.sample_type[0].type}:{p.sample_type[0].unit}:{period}"


def test_otlp_carries_cpu_and_an_off_cpu_profile_pyroscope_recognizes():
    resources = decode_request(build_otlp(profile().to_pprof(), {"host.name": "h"}))
    assert len(resources) == 1
    kinds = {pyroscope_profile_type(p): p for p in resources[0].profiles}
    assert set(kinds) == {
        "samples:count:cpu:nanoseconds",  # process_cpu
        "cpu:nanoseconds:cpu:nanoseconds",
        "off_cpu:nanoseconds::",  # off_cpu
    }
    off = kinds["off_cpu:nanoseconds::"]
    assert sum(s.values[0] for s in off.samples) == 1_450_000_000
    assert all(any(lb.key == "thread.state" for lb in s.labels) for s in off.samples), (
        "off-CPU samples carry their state"
    )
    cpu = kinds["samples:count:cpu:nanoseconds"]
    assert sum(s.values[0] for s in cpu.samples) == 101  # no off-CPU sample among them
    assert len(cpu.samples) == 2


def test_otlp_parts_cut_from_the_one_pprof():
    cpu, off = otlp_parts(profile().to_pprof())
    assert [vt.type for vt in cpu.sample_type] == ["samples", "cpu"]
    assert (cpu.default_sample_type, cpu.period_type.type, cpu.period) == ("cpu", "cpu", 10**7)
    assert [vt.type for vt in off.sample_type] == ["off_cpu"]
    assert (off.default_sample_type, off.period_type, off.period) == ("off_cpu", None, 0)
    for part in (cpu, off):
        part.check_valid()  # only the locations and functions its samples reach
    assert {loc.lines[0].function.name for loc in cpu.locations} == {"spin", "read", "main"}
    assert any("off-CPU" in c for c in off.comments)
    assert not any("off-CPU" in c for c in cpu.comments)
    assert not any("cpu-clock" in c for c in off.comments)


def test_otlp_without_off_cpu_is_one_cpu_profile_per_type():
    cpu_only = CollectedProfile(
        samples=[sample(11, (SPIN, MAIN), count=3)], freq=100, start_time=0, duration=1
    )
    resources = decode_request(build_otlp(cpu_only.to_pprof(), {}))
    kinds = sorted(pyroscope_profile_type(p) for p in resources[0].profiles)
    assert kinds == ["cpu:nanoseconds:cpu:nanoseconds", "samples:count:cpu:nanoseconds"]


def test_otlp_parses_with_the_opentelemetry_package():
    request = ExportProfilesServiceRequest()
    request.ParseFromString(build_otlp(profile().to_pprof(), {}))
    strings = request.dictionary.string_table
    profiles = request.resource_profiles[0].scope_profiles[0].profiles
    types = sorted(strings[p.sample_type.type_strindex] for p in profiles)
    assert types == ["cpu", "off_cpu", "samples"]


def test_folded_and_top_follow_the_chosen_sample_type():
    prof = profile(view="off_cpu")
    lines = dict(line.rsplit(" ", 1) for line in prof.folded().splitlines())
    assert lines == {
        "app;main;spin;__schedule_[k]": "250000000",
        "app;main;read;__schedule_[k]": "1200000000",
    }
    samples = dict(line.rsplit(" ", 1) for line in prof.folded("samples").splitlines())
    assert samples == {"app;main;spin": "100", "app;main;read": "1"}
    wall = dict(line.rsplit(" ", 1) for line in prof.folded("wall").splitlines())
    assert wall["app;main;spin"] == "1000000000"
    assert prof.top(1, "off_cpu")[0] == ("__schedule", 1_450_000_000, 1_450_000_000)
    assert prof.top(1)[0] == prof.top(1, "off_cpu")[0]  # the view
    assert prof.top(1, "samples")[0] == ("spin", 100, 100)
    table = prof.top_table(2)
    assert "1.450s" in table and "__schedule" in table
    svg = prof.svg()
    assert "off_cpu/nanoseconds" in svg and "samples" not in svg  # off-CPU time counts none
    assert "read (1.2s, 82.76%)" in svg and "spin (250ms, 17.24%)" in svg
    assert "spin (100 samples" in prof.svg("samples")
    assert "__schedule" in prof.encode("html").decode()
    assert b"off_cpu" in prof.encode("speedscope")
    with pytest.raises(ValueError):
        prof.folded("heap")


def test_wall_view_per_thread():
    pprof = profile().to_pprof()
    times = {t.tid: t for t in thread_times(pprof)}
    assert times[11].cpu_ns == 1_000_000_000 and times[11].off_cpu_ns == 250_000_000
    assert times[11].wall_ns == 1_250_000_000
    assert times[12].by_state == {"sleeping": 1_200_000_000}
    table = wall_table(pprof)
    assert "t11" in table and "runnable 250 ms" in table
    summary = off_cpu_summary(pprof, profile().off_cpu)
    assert "Wall-clock time per thread" in summary and "7 shorter than the minimum" in summary


def test_sample_values():
    s = sample(1, (MAIN,), count=2, off=5)
    assert sample_values(s, 10, with_off_cpu=True) == [2, 20, 5, 25]
    assert sample_values(s, 10, with_off_cpu=False) == [2, 20]


def test_agent_parts_cpu_for_pyroscope_and_the_status():
    pprof = profile().to_pprof()
    cpu = cpu_part(pprof)
    assert [vt.type for vt in cpu.sample_type] == ["samples", "cpu"]
    assert sum(s.values[0] for s in cpu.samples) == 101
    status = off_cpu_status(pprof, profile().off_cpu)
    assert status["off_cpu_ns"] == 1_450_000_000
    assert status["off_cpu_dropped"]["below_min"] == 7


def test_pipeline_keeps_off_cpu_time_and_state():
    class Symbols:
        def user_frames(self, pid, addr):
            return [Frame("main", address=addr, module=APP)]

        def kernel_frames(self, addr):
            return [Frame("__schedule", address=addr, module=KERNEL_MODULE, kind=KERNEL)]

    pipe = Pipeline(symbolizer=Symbols(), process_info=lambda pid: None)
    raw = [
        RawSample(
            10, 11, "app", (0x1000,), (0xFFFF0000,), count=0, off_cpu_ns=5, thread_state="disk"
        ),
        RawSample(
            10, 11, "app", (0x1000,), (0xFFFF0000,), count=0, off_cpu_ns=7, thread_state="disk"
        ),
        RawSample(
            10, 11, "app", (0x1000,), (0xFFFF0000,), count=0, off_cpu_ns=1, thread_state="sleeping"
        ),
        RawSample(10, 11, "app", (0x1000,), (), count=4),
    ]
    out = {(s.labels.get("thread.state", ""), s.count): s.off_cpu_ns for s in pipe.run(raw)}
    assert out == {("disk", 0): 12, ("sleeping", 0): 1, ("", 4): 0}


@pytest.mark.parametrize(
    ("value", "raw", "state"),
    [
        (0x100, False, "runnable"),  # the classic tracepoint: preempted
        (0, False, "runnable"),
        (1, False, "sleeping"),
        (2, False, "disk"),
        (0x80, False, "idle"),
        (op.STATE_PREEMPTED, True, "runnable"),
        (0x2001, True, "sleeping"),  # TASK_INTERRUPTIBLE | TASK_FREEZABLE (nanosleep)
        (0x102, True, "disk"),  # TASK_KILLABLE
        (0x402, True, "idle"),  # TASK_IDLE
        (0x8, True, "stopped"),
        (0x40, True, "parked"),
    ],
)
def test_thread_states(value, raw, state):
    assert op.decode_state(value, raw) == state


def test_durations():
    assert parse_duration_ns("500us") == 500_000
    assert parse_duration_ns("2ms") == 2_000_000
    assert parse_duration_ns("1s") == 1_000_000_000
    assert parse_duration_ns("750ns") == 750
    assert parse_duration_ns("10") == 10_000  # microseconds by default
    with pytest.raises(ValueError):
        parse_duration_ns("soon")
    with pytest.raises(ValueError):
        parse_duration_ns("-1ms")


class FakeMap:
    """What the assembler needs of a map: an fd, a name, a spec (the ring's size)."""

    def __init__(self, fd: int, max_entries: int = 1 << 20) -> None:
        self.fd = fd
        self.name = f"m{fd}"
        self.spec = SimpleNamespace(max_entries=max_entries)


@pytest.mark.parametrize("hook", op.HOOKS)
@pytest.mark.parametrize("target", ["all", "pids", "cgroup"])
@pytest.mark.parametrize("dwarf", ["off", "some", "all"])
def test_program_assembles_for_every_configuration(hook, target, dwarf):
    maps = op.OffCpuMaps(
        counts=(FakeMap(3), FakeMap(4)),
        stacks=(FakeMap(5), FakeMap(6)),
        control=FakeMap(7),
        stats=FakeMap(8),
        start=FakeMap(9),
        targets=FakeMap(10),
        cgroup=FakeMap(11),
        ring=FakeMap(12),
        stash=FakeMap(13),
        zero=FakeMap(14),
        dwarf_pids=FakeMap(15),
    )
    config = op.OffCpuConfig(
        hook=hook, target=target, dwarf=dwarf, min_ns=1000, sample_below=1 << 30, dwarf_min_ns=10**6
    )
    raw = op.build_offcpu(config, maps).assemble()
    assert len(raw) % 8 == 0 and len(raw) // 8 < 4096
