"""Attaching programs to perf events: BPF_LINK_CREATE and PERF_EVENT_IOC_SET_BPF, on the real
kernel; detaching exactly once; error paths through the seam."""

from __future__ import annotations

import errno
import os
import time

import pytest

from pybpf import attach
from pybpf.errors import BPFError, MissingPrivilegesError
from pybpf.maps import MapSpec, MapType
from pybpf.perf_event import PERF_EVENT_IOC_SET_BPF, open_cpu_clock, open_tracepoint
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.syscall import Kernel, use_kernel

from .kernels import RecordingKernel
from .programs import count_into


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.fixture
def counter():
    """A one-slot u64 array map and a perf_event program that counts its runs into it."""
    with MapSpec("runs", MapType.ARRAY, 4, 8, 1).create() as counts:
        spec = ProgramSpec("count_runs", ProgramType.PERF_EVENT, count_into(counts))
        with spec.load() as prog:
            yield prog, counts


def _runs(counts) -> int:
    return int.from_bytes(counts.lookup(0), "little")


@pytest.mark.bpf
@pytest.mark.parametrize("method", ["link", "ioctl"])
def test_program_runs_on_samples_then_stops_after_detach(method, counter, no_fd_leak):
    prog, counts = counter
    fds_before = len(os.listdir("/proc/self/fd"))
    with open_cpu_clock(pid=0, period=1_000_000) as event:  # a sample per ms of our CPU time
        with attach.attach_perf_event(prog, event, method=method) as attached:
            assert attached.method == method
            # a link is an fd of its own; the ioctl adds none
            extra = len(os.listdir("/proc/self/fd")) - fds_before
            assert extra == (2 if method == "link" else 1)
            _spin(0.1)
        assert attached.closed
        # Read after the detach: a sample may land between a read and the detach itself.
        during = _runs(counts)
        assert during >= 50  # ~100 samples expected; the count proves the program ran
        _spin(0.05)
        assert _runs(counts) == during  # detached: no more runs
        attached.close()  # a second close does nothing


@pytest.mark.bpf
def test_auto_picks_link_on_this_kernel(counter, no_fd_leak):
    prog, _counts = counter
    expected = "link" if attach.link_create_supported() else "ioctl"
    with open_cpu_clock(cpu=0, freq=99) as event, attach.attach_perf_event(prog, event) as a:
        assert a.method == expected
        assert a.link_fd is None or a.link_fd > 0


@pytest.mark.bpf
def test_attach_to_every_cpu_and_detach_together(counter, no_fd_leak):
    from pybpf.perf_event import open_cpu_clock_on_cpus

    prog, counts = counter
    with (
        open_cpu_clock_on_cpus(period=1_000_000) as events,
        attach.attach_perf_events(prog, events) as attachments,
    ):
        assert len(attachments) == len(events)
        _spin(0.05)
        assert _runs(counts) > 0
    assert all(a.closed for a in attachments)


@pytest.mark.bpf
def test_tracepoint_program_on_tracepoint(no_fd_leak):
    with MapSpec("runs", MapType.ARRAY, 4, 8, 1).create() as counts:
        spec = ProgramSpec("count_tp", ProgramType.TRACEPOINT, count_into(counts))
        with (
            spec.load() as prog,
            open_tracepoint("syscalls:sys_enter_getppid") as event,
            attach.attach_perf_event(prog, event),
        ):
            for _ in range(20):
                os.getppid()
            assert _runs(counts) >= 20  # runs on every CPU, whatever the event's cpu


@pytest.mark.bpf
def test_second_ioctl_attach_says_already_has_program(counter, no_fd_leak):
    prog, _counts = counter
    with (
        open_cpu_clock(cpu=0, freq=99) as event,
        attach.attach_perf_event(prog, event, method="ioctl"),
    ):
        with pytest.raises(BPFError, match="already has a program") as info:
            attach.attach_perf_event(prog, event, method="ioctl")
        assert info.value.errno == errno.EEXIST


@pytest.mark.bpf
def test_wrong_program_type_is_explained(no_fd_leak):
    with MapSpec("runs", MapType.ARRAY, 4, 8, 1).create() as counts:
        spec = ProgramSpec("count_sk", ProgramType.SOCKET_FILTER, count_into(counts))
        with spec.load() as prog, open_cpu_clock(cpu=0, freq=99) as event:
            for method in ("link", "ioctl"):
                with pytest.raises(OSError) as info:
                    attach.attach_perf_event(prog, event, method=method)
                assert info.value.errno == errno.EINVAL


class _DenySetBpf(Kernel):
    def ioctl(self, fd, request, arg=0):
        if request == PERF_EVENT_IOC_SET_BPF:
            raise OSError(errno.EPERM, "ioctl: Operation not permitted")
        return super().ioctl(fd, request, arg)


@pytest.mark.bpf
def test_eperm_names_the_privileges(counter, no_fd_leak):
    prog, _counts = counter
    with open_cpu_clock(cpu=0, freq=99) as event, use_kernel(_DenySetBpf()):
        with pytest.raises(MissingPrivilegesError, match="CAP_PERFMON"):
            attach.attach_perf_event(prog, event, method="ioctl")


class _FailSecondEnable(Kernel):
    def __init__(self):
        self.enables = 0
        self.closed: list[int] = []

    def ioctl(self, fd, request, arg=0):
        from pybpf.perf_event import PERF_EVENT_IOC_ENABLE

        if request == PERF_EVENT_IOC_ENABLE:
            self.enables += 1
            if self.enables == 2:
                raise OSError(errno.ENODEV, "ioctl: No such device")
        return super().ioctl(fd, request, arg)

    def close(self, fd):
        self.closed.append(fd)
        super().close(fd)


@pytest.mark.bpf
def test_failure_midway_detaches_what_was_attached(counter, no_fd_leak):
    from pybpf.perf_event import open_cpu_clock_on_cpus

    prog, _counts = counter
    fake = _FailSecondEnable()
    with open_cpu_clock_on_cpus(cpus=[0, 0], freq=99) as events, use_kernel(fake):
        with pytest.raises(OSError) as info:
            attach.attach_perf_events(prog, events, method="link")
        assert info.value.errno == errno.ENODEV
        # the failed link was closed at once, the first one by the rollback
        assert len(fake.closed) == 2


def test_unknown_method_is_rejected():
    class Fd:
        fd = -1

    with pytest.raises(ValueError, match="method"):
        attach.attach_perf_event(Fd(), Fd(), method="bogus")


@pytest.mark.bpf
def test_ioctl_detach_after_the_event_closed_touches_no_fd(counter, no_fd_leak):
    prog, _counts = counter
    fake = RecordingKernel()
    with use_kernel(fake):
        event = open_cpu_clock(cpu=0, freq=99)
        attached = attach.attach_perf_event(prog, event, method="ioctl")
        event.close()
        calls = len(fake.ioctls)
        attached.close()
    assert len(fake.ioctls) == calls  # no DISABLE sent to a closed (maybe reused) fd number
