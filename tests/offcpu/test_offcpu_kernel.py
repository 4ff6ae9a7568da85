"""The off-CPU program's variants through the verifier, and its knobs on the real kernel:
sampling with 1/p weights, the minimum and what it reports, children of a target, clean-up."""

from __future__ import annotations

import errno
import itertools
import math
import os
import subprocess
import sys
import time

import pytest

from profiler.bpf import offcpu_program as op
from profiler.bpf.offcpu import OffCpuSampler, sample_threshold
from profiler.bpf.offcpu_options import OffCpuOptions
from profiler.bpf.options import OptionError, SamplingOptions
from pybpf.errors import BPFError
from pybpf.syscall import Kernel, use_kernel
from tests.conftest import bpf_objects_held_by
from tests.profiler.workloads import start
from tests.support import open_fds, require_tool

from . import workloads

pytestmark = pytest.mark.bpf

FP = SamplingOptions(unwind="fp")


@pytest.fixture(scope="module")
def bins(tmp_path_factory) -> dict[str, str]:
    require_tool("gcc")
    out = str(tmp_path_factory.mktemp("offcpu-kernel"))
    return {
        "blocking": workloads.build("blocking", out, *workloads.FRAME_POINTERS),
        "napper": workloads.build("napper", out, *workloads.FRAME_POINTERS),
    }


VARIANTS = list(
    itertools.product(
        ("tracepoint", "raw_tp"),  # hook
        (False, True),  # a target pid (else the whole machine)
        ("fp", "dwarf", "auto"),  # unwind
        (1.0, 0.5),  # sampling
    )
)


@pytest.mark.parametrize(("hook", "by_pid", "unwind", "p"), VARIANTS)
def test_every_variant_loads_and_attaches(hook, by_pid, unwind, p, no_fd_leak):
    options = OffCpuOptions(hook=hook, sample=p, min_ns=5000)
    sampling = SamplingOptions(unwind=unwind)
    pids = [os.getpid()] if by_pid else []
    with OffCpuSampler(options, sampling, pids=pids) as s:
        assert s.hook == hook
        assert s.scale == pytest.approx(1 / p)
        s.drain()
    assert not [h for h in bpf_objects_held_by(os.getpid()) if "pp_off" in h]


def test_sampling_weighs_each_block_by_one_over_p(bins):
    """A thread naps 100 us ~18 000 times, watched by two programs at once: one remembers every
    switch-out, the other a quarter of them, each weighing 4. The estimate's standard error,
    given the blocks x_i, is sqrt((1 - p) / p * sum(x_i^2)) (Horvitz-Thompson; with even blocks
    about 1.3 % here, but a loaded machine stretches some naps by milliseconds): the two totals
    agree within four of it, plus 1 % for each program's own work falling inside the other's
    blocks (~0.2 % here)."""
    work = start(bins["napper"], "3", "100", wait=True)
    try:
        with (
            OffCpuSampler(OffCpuOptions(), FP, pids=[work.pid]) as full,
            OffCpuSampler(OffCpuOptions(sample=0.25), FP, pids=[work.pid]) as quarter,
        ):
            work.go()
            truth = work.result(timeout=60)
            totals = [_by_tid(s.drain() + s.drain()).get(truth["tid"], 0) for s in (full, quarter)]
            stats = quarter.read_stats()
    finally:
        work.kill()
    assert truth["naps"] > 10_000
    assert stats.unsampled == pytest.approx(3 * stats.switch_outs, rel=0.1)
    p = 0.25
    standard_error = math.sqrt((1 - p) / p * truth["nap_sq_ns2"])
    assert abs(totals[1] - totals[0]) <= 4 * standard_error + 0.01 * totals[0], (
        f"sampled {totals[1] / 1e6:.1f} ms, all {totals[0] / 1e6:.1f} ms, "
        f"standard error {standard_error / 1e6:.1f} ms"
    )
    # Against the thread's own clock: sched_switch intervals of 150 us blocks run longer than
    # elapsed - CPU time by a few microseconds a block (~3 % on a quiet machine, up to ~6 % with
    # two programs on the switch path and a loaded CI; perf's sched_switch timestamps say the
    # same), never shorter. The issue's +-5 % holds for the 100 ms blocks of test_offcpu_live.
    per_block_ns = (totals[0] - truth["off_cpu_ns"]) / truth["naps"]
    assert -0.02 * truth["off_cpu_ns"] / truth["naps"] <= per_block_ns <= 15_000, (
        f"off-CPU {totals[0] / 1e6:.1f} ms, thread's own {truth['off_cpu_ns'] / 1e6:.1f} ms"
    )


def test_minimum_drops_short_blocks_and_reports_them(bins):
    """At a 60 ms minimum the writer's 50 ms naps go (and are counted), the 100 ms sleeps stay."""
    work = start(bins["blocking"], "1.5", wait=True)
    try:
        with OffCpuSampler(OffCpuOptions(min_ns=60_000_000), FP, pids=[work.pid]) as s:
            work.go()
            truth = work.result(timeout=60)
            got = _by_tid(s.drain() + s.drain())
            st = s.read_stats()
    finally:
        work.kill()
    sleeper, writer = truth["threads"]["sleeper"], truth["threads"]["writer"]
    # Its sleeps are all there: the time inside them (measured around each call, so with the
    # wait for a CPU after the wake-up, as sched_switch sees it); its other, shorter blocks
    # (a loaded machine preempts it) are below the minimum.
    assert got[sleeper["tid"]] == pytest.approx(sleeper["blocked_ns"], rel=0.05)
    assert got.get(writer["tid"], 0) < 0.1 * writer["off_cpu_ns"]
    # The naps dropped are reported, with their time.
    assert st.below_min >= writer["iterations"] - 2
    assert st.below_min_ns >= 0.8 * writer["blocked_ns"]


def test_children_of_a_target_are_followed(tmp_path, bins):
    """--pid of a shell that starts the workload as its child: the child's waits are there."""
    from profiler.session import Session, SessionOptions, Targets

    script = f"read go; {bins['blocking']} 1.5 > {tmp_path / 'truth.json'}"
    shell = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.PIPE, text=True)
    try:
        options = SessionOptions(
            targets=Targets(pids=(shell.pid,)),
            sampling=SamplingOptions(freq=49),
            off_cpu=OffCpuOptions(),
            process_events=True,
        )
        with Session(options) as session:
            session.start()
            shell.communicate("go\n", timeout=60)
            profile = session.stop()
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
    import json

    lines = (tmp_path / "truth.json").read_text().splitlines()
    truth = json.loads(lines[-1])
    sleeper = truth["threads"]["sleeper"]
    off = sum(s.off_cpu_ns for s in profile.samples if s.labels.get("tid") == sleeper["tid"])
    # The child becomes a target when the session hears of it (the proc connector's fork
    # event, batched every 10 ms), as for CPU samples: its first 100 ms sleep may be missed,
    # with what it waited for a CPU before (milliseconds on a loaded machine); every later
    # sleep (100 ms or more each) is there.
    assert (sleeper["iterations"] - 1) * 100e6 <= off <= 1.05 * sleeper["off_cpu_ns"]
    assert profile.off_cpu is not None and profile.off_cpu.stats.blocks > 0


class FailingRawTracepoint(Kernel):
    """The kernel, except that BPF_RAW_TRACEPOINT_OPEN fails with EINVAL."""

    def bpf(self, cmd: int, attr: object, size: int) -> int:
        if cmd == 17:
            raise OSError(errno.EINVAL, "fake: no raw tracepoint")
        return super().bpf(cmd, attr, size)


def test_failure_halfway_leaves_nothing_open():
    before = open_fds()
    with use_kernel(FailingRawTracepoint()), pytest.raises(BPFError) as failed:
        OffCpuSampler(OffCpuOptions(hook="raw_tp"), SamplingOptions(unwind="dwarf"))
    assert failed.value.errno == errno.EINVAL
    assert open_fds() == before
    # "auto" picks the raw tracepoint for a pid, and falls back to the classic one.
    with OffCpuSampler(OffCpuOptions(), FP, pids=[os.getpid()]) as s:
        assert s.hook == "raw_tp"
    with (
        use_kernel(FailingRawTracepoint()),
        OffCpuSampler(OffCpuOptions(), FP, pids=[os.getpid()]) as s,
    ):
        assert s.hook == "tracepoint"
    with OffCpuSampler(OffCpuOptions(), FP) as s:
        assert s.hook == "tracepoint"  # the whole machine
    assert open_fds() == before


def test_program_refuses_impossible_configurations():
    with pytest.raises(ValueError):
        op.OffCpuConfig(hook="kprobe")
    with pytest.raises(ValueError):
        op.OffCpuConfig(sample_below=0)
    with pytest.raises(ValueError):
        sample_threshold(0)
    assert sample_threshold(1.0) == 1 << 32
    for bad in (
        {"sample": 0},
        {"sample": 1.5},
        {"min_ns": -1},
        {"hook": "kprobe"},
        {"ring_size": 5000},
    ):
        with pytest.raises(OptionError):
            OffCpuOptions(**bad)


def test_disable_detaches_before_the_final_drain(bins):
    """After disable() the program no longer runs (the final drain reads a set nothing writes)
    while a second program on the same thread still sees it nap; what was counted before is
    still there to drain."""
    work = start(bins["napper"], "20", "10000")  # naps 10 ms at a time, from now on
    try:
        with (
            OffCpuSampler(OffCpuOptions(), FP, pids=[work.pid]) as s,
            OffCpuSampler(OffCpuOptions(), FP, pids=[work.pid]) as witness,
        ):
            _wait_until(lambda: s.read_stats().blocks >= 10)
            s.disable()
            runs = _run_count(s)
            seen = witness.read_stats().blocks
            _wait_until(lambda: witness.read_stats().blocks >= seen + 20)
            assert _run_count(s) == runs
            counted = sum(_by_tid(s.drain() + s.drain()).values())
    finally:
        work.kill()
    assert counted >= 0.9 * 10 * 10_000_000  # at least the ten naps of 10 ms seen before


def test_the_final_drain_has_every_dwarf_block(bins):
    """DWARF blocks reach user space through a ring read every 100 ms: disable() reads what is
    left, so a thread's last block (sent as it wakes to exit) is in the final drain."""
    work = start(bins["napper"], "1", "300000", wait=True)  # four naps of 300 ms
    try:
        dwarf = SamplingOptions(unwind="dwarf")
        with OffCpuSampler(OffCpuOptions(), dwarf, pids=[work.pid]) as s:
            work.go()
            truth = work.result(timeout=60)
            s.disable()
            got = _by_tid(s.drain() + s.drain()).get(truth["tid"], 0)
    finally:
        work.kill()
    assert got == pytest.approx(truth["off_cpu_ns"], rel=0.05)


def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _run_count(sampler: OffCpuSampler) -> int:
    """How often the program ran for the target: switch-outs and switch-ins it accounted for."""
    st = sampler.read_stats()
    return st.switch_outs + st.unsampled + st.blocks + st.below_min


def _by_tid(samples) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in samples:
        out[s.tid] = out.get(s.tid, 0) + s.off_cpu_ns
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
