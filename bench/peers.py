"""Running a profiler (ours or a peer) as a child and measuring what it cost: CPU, peak RSS, start.

Each run is measured with ``wait4`` on that one child (``ru_utime + ru_stime``, ``ru_maxrss``),
so runs do not pollute each other. "Ready" is the time from spawn until the child holds a BPF
program (read from /proc/PID/fd), i.e. until sampling can begin.

Peak RSS comes from GNU time (``/usr/bin/time -f %M``) around the child: ``ru_maxrss`` of a
child spawned from this (large) pytest process would include the parent's RSS, because the peak
of the image before ``exec`` is kept (and ``vfork`` shares the parent's memory until then).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD_SRC = os.path.join(ROOT, "tests", "profiler", "workloads", "calltree.c")


@dataclass
class RunCost:
    """What one profiler run cost."""

    name: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    ready_s: float
    returncode: int

    def cpu_percent(self, seconds: float) -> float:
        """CPU used, as a percentage of one core over ``seconds`` of profiling."""
        return 100.0 * self.cpu_s / seconds

    def row(self, seconds: float) -> str:
        return (
            f"{self.name:<28} ready {self.ready_s:6.2f} s  cpu {self.cpu_s:6.2f} s "
            f"({self.cpu_percent(seconds):5.2f} % of a core)  peak RSS {self.max_rss_mb:7.1f} MB"
        )


def holds_bpf_program(pid: int) -> bool:
    """Whether ``pid`` (or one of its threads) holds a BPF program fd."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf-prog":
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


GNU_TIME = "/usr/bin/time"


class TimedChild:
    """``argv`` run under GNU time (when present) for an honest peak RSS; ``pid`` is the real
    child's (not the wrapper's) once it exists."""

    def __init__(self, argv: list[str]) -> None:
        import tempfile

        fd, self.report = tempfile.mkstemp(prefix="bench-time-", suffix=".txt")
        os.close(fd)
        self.timed = os.path.exists(GNU_TIME)
        wrapper = [GNU_TIME, "-q", "-o", self.report, "-f", "%M"] if self.timed else []
        self.proc = subprocess.Popen(
            [*wrapper, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int | None:
        if not self.timed:
            return self.proc.pid
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def send_signal(self, sig: int) -> None:
        pid = self.pid
        if pid is not None:
            os.kill(pid, sig)

    def wait(self, timeout: float = 300) -> tuple[int, float, float]:
        """(exit code, CPU seconds, peak RSS in MB) of the child."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                break
            if time.monotonic() > deadline:
                self.proc.kill()
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        rss_kb = usage.ru_maxrss  # fallback without GNU time: may include the parent's RSS
        try:
            with open(self.report) as f:
                rss_kb = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(self.report)
        # The wrapper's own CPU is negligible next to the child's.
        return self.proc.returncode, usage.ru_utime + usage.ru_stime, rss_kb / 1024


def measure(name: str, argv: list[str], timeout: float = 300) -> RunCost:
    """Run ``argv`` to completion and measure it (see the module docstring)."""
    start = time.monotonic()
    child = TimedChild(argv)
    ready = -1.0
    while child.proc.poll() is None and ready < 0:
        pid = child.pid
        if pid is not None and holds_bpf_program(pid):
            ready = time.monotonic() - start
            break
        time.sleep(0.005)
    code, cpu, rss = child.wait(timeout)
    return RunCost(name, time.monotonic() - start, cpu, rss, ready, code)


def ours(freq: int, seconds: float, out: str, *extra: str) -> list[str]:
    """The command line of our profiler, whole machine."""
    return [
        sys.executable,
        "-m",
        "profiler",
        "--freq",
        str(freq),
        "--duration",
        str(seconds),
        "-o",
        out,
        "-q",
        *extra,
    ]


def bcc_profile(freq: int, seconds: float) -> list[str] | None:
    """BCC's profile tool (Debian bpfcc-tools), whole machine, folded output; None if absent."""
    tool = shutil.which("profile-bpfcc")
    if tool is None:
        return None
    return [tool, "-F", str(freq), "-f", str(int(seconds))]


def busy_workloads(binary: str, seconds: float, n: int) -> list[subprocess.Popen]:
    """``n`` copies of the call-tree workload (one per CPU keeps every CPU sampled)."""
    return [subprocess.Popen([binary, str(seconds)], stdout=subprocess.DEVNULL) for _ in range(n)]


def build_workload(tmpdir: str) -> str:
    """Compile the call-tree workload with frame pointers."""
    out = os.path.join(tmpdir, "calltree")
    subprocess.run(["gcc", "-O2", "-fno-omit-frame-pointer", "-o", out, WORKLOAD_SRC], check=True)
    return out
