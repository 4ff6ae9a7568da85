"""ProcessEvents against the real kernel: fork/exec/exit of real children, threads, overruns."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from profiler.process.events.watcher import ExecEvent, ExitEvent, ForkEvent, Overrun, ProcessEvents

pytestmark = pytest.mark.bpf  # root: the proc connector needs CAP_NET_ADMIN on kernels < 6.6


def _read_until(events: ProcessEvents, done, rounds: int = 200) -> list:
    """Read events until ``done(all_so_far)`` holds (bounded, never a timed assertion)."""
    seen: list = []
    for _ in range(rounds):
        seen.extend(events.read(timeout=0.1))
        if done(seen):
            break
    return seen


def _about(pids: set[int], evs: list) -> list:
    out = []
    for e in evs:
        if isinstance(e, ForkEvent) and e.child_tgid in pids:
            out.append(e)
        elif isinstance(e, ExecEvent | ExitEvent) and e.tgid in pids:
            out.append(e)
    return out


def test_sees_fork_exec_and_exit_of_a_shell_and_its_child_in_order(no_fd_leak):
    with ProcessEvents() as events:
        shell = subprocess.Popen(["/bin/sh", "-c", "/bin/sleep 0.2; exit 3"])
        assert shell.wait() == 3

        def shell_exited(seen):
            return any(isinstance(e, ExitEvent) and e.tgid == shell.pid for e in seen)

        seen = _read_until(events, shell_exited)
    forks = [e for e in seen if isinstance(e, ForkEvent) and e.parent_tgid == shell.pid]
    assert len(forks) == 1, f"the shell forked once for sleep: {forks}"
    sleep_pid = forks[0].child_tgid
    mine = _about({shell.pid, sleep_pid}, seen)
    kinds = [(type(e).__name__, getattr(e, "tgid", getattr(e, "child_tgid", 0))) for e in mine]
    assert kinds == [
        ("ForkEvent", shell.pid),
        ("ExecEvent", shell.pid),
        ("ForkEvent", sleep_pid),
        ("ExecEvent", sleep_pid),
        ("ExitEvent", sleep_pid),
        ("ExitEvent", shell.pid),
    ]
    assert mine[0].parent_tgid == os.getpid() and not mine[0].is_thread
    assert [e.timestamp_ns for e in mine] == sorted(e.timestamp_ns for e in mine)
    sleep_exit, shell_exit = mine[4], mine[5]
    assert sleep_exit.status == 0 and shell_exit.status == 3 and shell_exit.signal is None
    assert events.received >= len(mine) and events.overruns == 0


def test_a_killed_process_reports_its_signal():
    with ProcessEvents() as events:
        child = subprocess.Popen(["/bin/sleep", "30"])
        child.kill()
        child.wait()
        seen = _read_until(
            events, lambda s: any(isinstance(e, ExitEvent) for e in _about({child.pid}, s))
        )
    (exit_event,) = [e for e in _about({child.pid}, seen) if isinstance(e, ExitEvent)]
    assert exit_event.signal == -child.returncode and exit_event.status is None


def test_threads_are_told_apart_from_processes_and_filtered_by_default():
    with ProcessEvents(threads=True) as with_threads, ProcessEvents() as without:
        worker = threading.Thread(target=lambda: None)
        worker.start()
        worker.join()
        tid = worker.native_id

        def thread_exited(seen):
            return any(isinstance(e, ExitEvent) and e.tid == tid for e in seen)

        seen = _read_until(with_threads, thread_exited)
        others = without.read(timeout=0.1)  # everything of the same moment, threads dropped
    fork = [e for e in seen if isinstance(e, ForkEvent) and e.child_tid == tid]
    exit_ = [e for e in seen if isinstance(e, ExitEvent) and e.tid == tid]
    assert len(fork) == 1 and fork[0].is_thread and fork[0].child_tgid == os.getpid()
    assert len(exit_) == 1 and exit_[0].is_thread and exit_[0].tgid == os.getpid()
    assert exit_[0].exit_signal == -1  # a thread notifies no parent
    assert not [e for e in others if getattr(e, "is_thread", False)]


@pytest.mark.parametrize("batch_interval", [0.0, 0.05])
def test_own_thread_calls_back_until_close(no_fd_leak, batch_interval):
    got, exits = [], set()
    cond = threading.Condition()

    def on_event(event):
        with cond:
            got.append(event)
            if isinstance(event, ExitEvent):
                exits.add(event.tgid)
                cond.notify_all()

    with ProcessEvents() as events:
        events.start(on_event, batch_interval=batch_interval)
        with pytest.raises(RuntimeError):
            events.start(on_event)
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        with cond:  # the exit may be handled before Popen even returns: look for it in `exits`
            assert cond.wait_for(lambda: child.pid in exits, 10), "no exit event reached us"
    assert events.error is None
    kinds = [type(e) for e in _about({child.pid}, got)]
    assert kinds == [ForkEvent, ExecEvent, ExitEvent]
    events.close()  # idempotent


def test_a_failing_callback_stops_the_thread_and_is_kept(no_fd_leak):
    with ProcessEvents() as events:

        def on_event(event):
            raise KeyError("callback bug")

        events.start(on_event)
        subprocess.run(["/bin/true"], check=True)
        for _ in range(100):
            if events.error is not None:
                break
            threading.Event().wait(0.05)
    assert isinstance(events.error, KeyError)


def test_overrun_is_reported_and_the_watcher_keeps_working(no_fd_leak):
    # A 16 KiB receive buffer holds a few dozen events: spawning 100 processes without reading
    # overflows it, and the kernel answers the next recv with ENOBUFS.
    with ProcessEvents(rcvbuf=8192) as events:
        for _ in range(100):
            subprocess.run(["/bin/true"], check=True)
        seen = events.read()
        overruns = [e for e in seen if isinstance(e, Overrun)]
        assert overruns and events.overruns == len(overruns)
        assert overruns[0].count == 1
        # Still subscribed after the overrun: a new process is seen.
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        after = _read_until(
            events, lambda s: any(isinstance(e, ExitEvent) and e.tgid == child.pid for e in s)
        )
    # (On a busy machine the small buffer may overflow again: the exit must still arrive.)
    assert ExitEvent in [type(e) for e in _about({child.pid}, after)]


def test_fileno_is_readable_when_events_wait(no_fd_leak):
    import select

    with ProcessEvents() as events:
        subprocess.run(["/bin/true"], check=True)
        readable, _, _ = select.select([events], [], [], 10)
        assert readable == [events]
        assert events.read()
