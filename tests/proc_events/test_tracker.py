"""ProcessTracker: what a session is told on fork, exec, exit and overrun."""

from __future__ import annotations

import subprocess
import threading

import pytest

from profiler.process.events.tracker import ProcessTracker
from profiler.process.events.watcher import ExecEvent, ExitEvent, ForkEvent, Overrun


def _tracker(**kwargs):
    calls = {"ready": [], "new": []}
    tracker = ProcessTracker(
        on_exec_ready=calls["ready"].extend,
        on_new_process=calls["new"].append,
        start_watcher=False,
        delay_s=3600,  # run by hand below
        **kwargs,
    )
    return tracker, calls


def test_follows_children_of_roots_only():
    tracker, calls = _tracker(roots=[100])
    with tracker:
        tracker.handle(ForkEvent(100, 100, 200, 200, 1))  # child of the root
        tracker.handle(ForkEvent(200, 200, 300, 300, 2))  # grandchild
        tracker.handle(ForkEvent(1, 1, 400, 400, 3))  # someone else's child
        tracker.handle(ForkEvent(1, 1, 100, 101, 4))  # a thread of the root: no new process
        assert calls["new"] == [200, 300]
        assert tracker.followed() == {100, 200, 300}
        tracker.handle(ExecEvent(300, 300, 5))
        tracker.handle(ExecEvent(400, 400, 6))  # not followed: no snapshot
        assert tracker.deferred.pending() == [300]


def test_no_children_followed_when_asked_not_to():
    tracker, calls = _tracker(roots=[100], follow_children=False)
    with tracker:
        tracker.handle(ForkEvent(100, 100, 200, 200, 1))
    assert calls["new"] == [] and tracker.followed() == {100}


def test_whole_machine_snapshots_every_exec_and_exit_cancels_it():
    tracker, calls = _tracker()
    with tracker:
        tracker.handle(ForkEvent(1, 1, 5, 5, 1))
        assert calls["new"] == []  # the sampler already samples everything
        tracker.handle(ExecEvent(5, 5, 2))
        tracker.handle(ExecEvent(6, 6, 3))
        tracker.handle(ExitEvent(6, 6, 0, 17, 4))  # exited before its libraries were mapped
        assert tracker.deferred.pending() == [5]


def test_exited_pids_come_back_one_drain_later():
    tracker, _ = _tracker(roots=[100])
    with tracker:
        tracker.handle(ForkEvent(100, 100, 200, 200, 1))
        tracker.handle(ExitEvent(200, 201, 0, -1, 2))  # a thread: the process lives on
        tracker.handle(ExitEvent(200, 200, 0, 17, 3))
        assert tracker.drained() == set()  # its last samples may still be undrained
        tracker.handle(ExitEvent(100, 100, 0, 17, 4))
        assert tracker.drained() == {200}
        assert tracker.followed() == {100}
        assert tracker.drained() == {100}
        assert tracker.drained() == set()


def test_overrun_asks_for_one_rescan():
    tracker, _ = _tracker()
    with tracker:
        assert not tracker.take_rescan()
        tracker.handle(Overrun(1))
        assert tracker.take_rescan() and not tracker.take_rescan()
        tracker.add_followed([7])


@pytest.mark.bpf
def test_real_shell_and_child_followed_snapshotted_and_forgotten(no_fd_leak):
    shell = subprocess.Popen(
        ["/bin/sh", "-c", "read line; /bin/sleep 0.2; exit 0"], stdin=subprocess.PIPE
    )
    new, ready, exits = [], [], threading.Event()

    def on_ready(pids):
        ready.extend(pids)

    with ProcessTracker(
        roots=[shell.pid], on_exec_ready=on_ready, on_new_process=new.append
    ) as tracker:
        shell.stdin.write(b"go\n")
        shell.stdin.close()
        assert shell.wait() == 0
        gone: set[int] = set()
        for _ in range(200):  # bounded wait for both exits to be handed back
            gone |= tracker.drained()
            if shell.pid in gone and len(gone) >= 2:
                exits.set()
                break
            threading.Event().wait(0.05)
        assert tracker.events.error is None and tracker.deferred.error is None
    assert exits.is_set(), f"exits handed back: {gone}"
    (child,) = new
    assert gone == {shell.pid, child}
    assert ready == [child]  # sleep's exec, snapshotted once its libraries were mapped
