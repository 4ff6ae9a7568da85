"""Tracepoint ids from tracefs and tracepoint perf events."""

from __future__ import annotations

import os

import pytest

from pybpf import tracefs
from pybpf.perf_event import open_tracepoint


@pytest.mark.parametrize("bad", ["sched", "sched:", ":x", "../x:y", "a/b:c"])
def test_tracepoint_names_are_category_colon_name(bad):
    with pytest.raises(ValueError, match="category:name"):
        tracefs.split_tracepoint(bad)


@pytest.mark.bpf
def test_tracepoint_id_is_the_id_file():
    root = tracefs.tracefs_root()
    expected = int((root / "events" / "sched" / "sched_switch" / "id").read_text())
    assert tracefs.tracepoint_id("sched:sched_switch") == expected
    assert "sched:sched_switch" in tracefs.tracepoints("sched")


@pytest.mark.bpf
def test_unknown_tracepoint_is_named():
    with pytest.raises(FileNotFoundError, match="no tracepoint 'sched:no_such_event'"):
        tracefs.tracepoint_id("sched:no_such_event")


@pytest.mark.bpf
def test_tracepoint_event_counts_hits(no_fd_leak):
    # sys_enter_getppid fires once per getppid(2) of any process on the event's CPU; pin
    # ourselves to that CPU so our calls land there.
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        with open_tracepoint("syscalls:sys_enter_getppid", cpu=0) as event:
            for _ in range(50):
                os.getppid()
            assert event.read_count() >= 50
    finally:
        os.sched_setaffinity(0, old)
