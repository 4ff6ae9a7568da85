"""Fake kernels for the error paths of perf events, attach and readers (the syscall seam)."""

from __future__ import annotations

import os

from pybpf.syscall import Kernel


class RecordingKernel(Kernel):
    """The real kernel, recording every close(2) and failing the calls a test names.

    ``fail_perf_event_open`` maps a call number (0 = first call) to the errno it fails with.
    """

    def __init__(self, fail_perf_event_open: dict[int, int] | None = None) -> None:
        self.fail_perf_event_open = fail_perf_event_open or {}
        self.perf_event_open_calls = 0
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.ioctls: list[tuple[int, int]] = []

    def perf_event_open(self, attr, pid, cpu, group_fd, flags):
        call = self.perf_event_open_calls
        self.perf_event_open_calls += 1
        if call in self.fail_perf_event_open:
            err = self.fail_perf_event_open[call]
            raise OSError(err, f"perf_event_open: {os.strerror(err)}")
        fd = super().perf_event_open(attr, pid, cpu, group_fd, flags)
        self.opened.append(fd)
        return fd

    def ioctl(self, fd, request, arg=0):
        self.ioctls.append((fd, request))
        return super().ioctl(fd, request, arg)

    def close(self, fd):
        self.closed.append(fd)
        super().close(fd)


def always(err: int) -> dict[int, int]:
    """A ``fail_perf_event_open`` table failing the first 64 calls with ``err``."""
    return dict.fromkeys(range(64), err)
