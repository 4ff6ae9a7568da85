"""A ``--pid`` run ends when its targets have all exited (``--duration`` is only a maximum):
within a drain interval of the last exit, children that outlive their parent included."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from profiler.session.options import SessionOptions
from tests.profiler import workloads
from tests.profiler.profiles import load, stacks_of
from tests.profiler.test_profile_live import MIN_CAPTURE, wait_until_sampling
from tests.support import require_tool

pytestmark = pytest.mark.bpf

DRAIN_S = SessionOptions().drain_interval
END_LINE = "All target processes have exited."


@pytest.fixture(scope="module")
def calltree() -> str:
    require_tool("gcc")
    return workloads.build("calltree", "-O2", "-fno-omit-frame-pointer")


class TimedLines:
    """Reads a stream in a thread; each line with the monotonic time it arrived."""

    def __init__(self, stream) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def when(self, text: str) -> float:
        self._thread.join(timeout=30)
        return next(t for t, line in self.lines if line == text)


def profile_pid(pid: int, out: str) -> tuple[subprocess.Popen, TimedLines]:
    argv = [sys.executable, "-m", "profiler", "-p", str(pid), "-F", "199", "-d", "60"]
    proc = subprocess.Popen(
        [*argv, "-o", out, "--top", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, TimedLines(proc.stderr)


def test_pid_run_ends_within_a_drain_interval_after_its_target(tmp_path, calltree):
    out = str(tmp_path / "p.pb.gz")
    work = workloads.start(calltree, "2", wait=True)
    proc, stderr = profile_pid(work.pid, out)
    try:
        wait_until_sampling(proc.pid)
        work.go()
        truth = work.result()  # returns when the workload has exited (2 s of running)
        exited_at = time.monotonic()
        proc.wait(timeout=30)  # not the 60 s of --duration
        ended_at = time.monotonic()
    finally:
        work.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.lines
    assert stderr.when(END_LINE) - exited_at <= DRAIN_S
    print(
        f"sampling ended {stderr.when(END_LINE) - exited_at:+.2f} s after the target's exit, "
        f"the profiler {ended_at - exited_at:.2f} s after"
    )
    assert ended_at - exited_at < DRAIN_S + 5  # then the profile is written, and that is all
    samples = sum(stacks_of(load(out), work.pid).values())
    assert samples >= MIN_CAPTURE * truth["cpu_seconds"] * 199  # nothing lost at the end


# The target: waits for a line, starts the workload and exits at once, leaving its child running.
PARENT = (
    "import subprocess, sys\n"
    "sys.stdin.readline()\n"
    "child = subprocess.Popen([sys.argv[1], '2'], stdout=subprocess.DEVNULL)\n"
    "print(child.pid, flush=True)\n"
)


def test_children_that_outlive_the_target_keep_the_run_going(tmp_path, calltree):
    out = str(tmp_path / "c.pb.gz")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, calltree],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc, stderr = profile_pid(parent.pid, out)
    child = 0
    try:
        wait_until_sampling(proc.pid)
        parent.stdin.write("go\n")
        parent.stdin.flush()
        child = int(parent.stdout.readline())
        parent.wait(timeout=30)
        parent_exited_at = time.monotonic()
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            time.sleep(0.02)  # the grandchild is not ours to wait for: watch /proc
        child_exited_at = time.monotonic()
        proc.wait(timeout=30)
    finally:
        if child and os.path.exists(f"/proc/{child}"):
            os.kill(child, 9)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.lines
    end = stderr.when(END_LINE)
    assert end > parent_exited_at + 1.0  # the run did not end with the target itself
    assert end - child_exited_at <= DRAIN_S
    stacks = stacks_of(load(out), child)
    assert any(s and s[0] == "leaf_two" for s in stacks), stacks.most_common(3)


def test_without_process_events_exits_are_read_from_proc(calltree, no_fd_leak):
    from profiler.bpf.options import SamplingOptions
    from profiler.session import Session, Targets

    work = workloads.start(calltree, "0.5", wait=True)
    options = SessionOptions(
        Targets(pids=(work.pid,)),
        SamplingOptions(freq=99),
        process_events=False,
        drain_interval=0.2,
    )
    try:
        with Session(options) as session:
            session.start()
            assert not session.targets_exited.is_set()
            work.go()
            work.result()
            # The next drain reads /proc and finds it gone.
            assert session.targets_exited.wait(timeout=2 * options.drain_interval + 1.0)
            session.stop()
    finally:
        work.kill()
