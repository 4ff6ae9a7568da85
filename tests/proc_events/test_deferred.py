"""DeferredSnapshots: coalescing, ordering, cancel, close; with a fake clock and with its thread."""

from __future__ import annotations

import threading

from profiler.process.events.deferred import DeferredSnapshots


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_calls_back_once_per_pid_after_the_last_schedule():
    clock, calls = FakeClock(), []
    d = DeferredSnapshots(calls.append, delay_s=0.05, thread=False, clock=clock)
    d.schedule(10)
    clock.now += 0.03
    d.schedule(20)  # due at +0.08
    clock.now += 0.01
    d.schedule(10)  # exec again (sh -c execs its command): postponed to +0.09, not doubled
    assert d.pending() == [20, 10]
    clock.now += 0.045
    assert d.run_due() == [20] and calls == [[20]]
    assert d.next_due_in() is not None and d.next_due_in() > 0
    clock.now += 0.05
    assert d.run_due() == [10] and calls == [[20], [10]]
    assert d.next_due_in() is None and d.run_due() == []
    d.close()
    assert calls == [[20], [10]]


def test_due_pids_come_in_one_batch_and_cancel_drops_a_pid():
    clock, calls = FakeClock(), []
    d = DeferredSnapshots(calls.append, delay_s=0.01, thread=False, clock=clock)
    for pid in (1, 2, 3, 4):
        d.schedule(pid)
    d.cancel(3)  # it exited before its libraries were mapped
    d.cancel(99)  # unknown: ignored
    clock.now += 1
    assert d.run_due() == [1, 2, 4] and calls == [[1, 2, 4]] and d.calls == 1


def test_close_runs_or_drops_what_is_pending():
    ran = []
    with DeferredSnapshots(ran.extend, delay_s=3600) as d:
        d.schedule(5)
    assert ran == [5]
    dropped = []
    with DeferredSnapshots(dropped.extend, delay_s=3600, run_pending_on_close=False) as d:
        d.schedule(5)
    assert dropped == []
    d.close()  # idempotent


def test_thread_calls_back_and_survives_a_failing_callback():
    seen, done = [], threading.Event()

    def callback(pids):
        seen.extend(pids)
        if pids == [1]:
            raise ValueError("boom")
        done.set()

    with DeferredSnapshots(callback, delay_s=0.001) as d:
        d.schedule(1)
        # Wait for the first batch to run before scheduling the second.
        for _ in range(1000):
            if d.calls:
                break
            threading.Event().wait(0.01)
        d.schedule(2)
        assert done.wait(10), "the deferred thread never called back"
    assert seen == [1, 2]
    assert isinstance(d.error, ValueError)
