"""Process events never wait for a drain: a fork reaches the kernel filter at once, and the
session's own bookkeeping of it follows as soon as the drain in progress lets go."""

from __future__ import annotations

import struct
import subprocess
import threading
import time

import pytest

from profiler.bpf.options import SamplingOptions
from profiler.session import Session, SessionOptions, Targets

pytestmark = pytest.mark.bpf


def test_a_fork_during_a_drain_is_a_target_at_once():
    parent = subprocess.Popen(["sleep", "30"])
    child = subprocess.Popen(["sleep", "30"])
    options = SessionOptions(
        targets=Targets(pids=(parent.pid,)),
        sampling=SamplingOptions(unwind="fp"),
        process_events=False,
    )
    try:
        with Session(options) as session:
            session.start()
            targets = session._sampler.targets
            key = struct.pack("=I", child.pid)
            assert targets.lookup(key) is None
            with session._lock:  # as a drain holds it while it symbolizes
                done = threading.Event()
                event_thread = threading.Thread(
                    target=lambda: (session._on_new_process(child.pid), done.set())
                )
                event_thread.start()
                assert done.wait(10), "the process-event thread waited for the drain"
                assert targets.lookup(key) == b"\x01"  # in the kernel filter already
                assert child.pid not in session._seen  # the bookkeeping waits for the lock
            session._run_pending()  # what a drain does when it lets go (or the drain thread)
            deadline = time.monotonic() + 10
            while child.pid not in session._seen:
                assert time.monotonic() < deadline, "the queued bookkeeping never ran"
                time.sleep(0.01)
            event_thread.join()
            session.stop()
    finally:
        for proc in (parent, child):
            proc.kill()
            proc.wait()
