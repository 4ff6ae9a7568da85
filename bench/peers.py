"""Running a profiler (ours or a peer) as a child and measuring what it cost: CPU, peak RSS, start.

Each run is measured with ``wait4`` on that one child (``ru_utime + ru_stime``, ``ru_maxrss``),
so runs do not pollute each other. "Ready" is the time from spawn until the child holds a BPF
program (read from /proc/PID/fd), i.e. until sampling can begin.
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


def measure(name: str, argv: list[str], timeout: float = 300) -> RunCost:
    """Run ``argv`` to completion and measure it (see the module docstring)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = -1.0
    while proc.poll() is None and ready < 0:
        if holds_bpf_program(proc.pid):
            ready = time.monotonic() - start
            break
        time.sleep(0.005)
    # wait4 gives this child's own rusage.
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    return RunCost(
        name=name,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        ready_s=ready,
        returncode=proc.returncode,
    )


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
