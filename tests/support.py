"""Helpers for tests: privilege and tool gating (skip outside CI, fail under CI=true)."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a developer machine; fail under CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    """Require root (BPF programs, perf events); skip outside CI, fail under CI."""
    if os.geteuid() != 0:
        skip_or_fail("needs root (CAP_BPF + CAP_PERFMON) to load BPF programs and open perf events")


def require_tool(name: str) -> str:
    """Require an external program (an oracle such as bpftool or go); returns its path."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"needs the {name!r} program (installed by .ci/run)")
    return path


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def wait_for(condition, timeout: float = 10.0, interval: float = 0.02, what: str = "") -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds (no fixed sleeps)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


def thread_count(pid: int) -> int:
    """The number of threads of ``pid`` (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0
