"""The profiler on a Python target beside py-spy, in the same run: CPU, peak RSS, BPF ns per
sample, and the target's slowdown under each.

The target is Debian's CPython 3.11 (static, no frame pointers) running
``tests/python_stacks/workload.py rate``: pure Python calls counted per second of the target's
CPU time, so a profiler's slowdown of it (CPU its sampling costs the target) is measured, not
assumed, whatever else loads the machine. Each profiler runs ``BENCH_SECONDS``
(default 10) by pid; the workload starts once the profiler is sampling. py-spy runs
``record --nonblocking`` (no ptrace stop), raw output. BPF ns per sample comes from the kernel's
BPF statistics (``kernel.bpf_stats_enabled``; run_time_ns / run_cnt of our program, read from
our child's fdinfo just before it stops; ``BPF_ENABLE_STATS`` holds the statistics on while a
test runs). Numbers are taken on a shared 2-CPU machine.

    python -m pytest bench/test_bench_python.py -s -p no:cacheprovider

``test_where_our_cost_goes`` runs ours in several configurations (an idle target: start-up and
idle cost; native stacks only; frame pointers only; no DWARF line tables) to show where the CPU
of a Python profile goes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.support import require_root, skip_or_fail

from .peers import TimedChild, holds_bpf_program
from .proc_watch import bpf_fds, sampling_programs

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tests", "python_stacks", "workload.py")
PYTHON = "/usr/bin/python3.11"


class Target:
    """The workload, started and waiting for ``go``."""

    def __init__(self, mode: str, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, WORKLOAD, mode, str(seconds)], stdin=-1, stdout=-1, text=True
        )
        assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def summary(self) -> dict:
        info = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=60)
        return info


def bpf_run_stats(pid: int) -> tuple[int, int] | None:
    """(run_time_ns, run_cnt) summed over the perf-event programs ``pid`` holds."""
    progs = sampling_programs(bpf_fds(pid))
    if not progs:
        return None
    return sum(ns for ns, _ in progs.values()), sum(n for _, n in progs.values())


@pytest.fixture
def bpf_stats():
    """BPF run-time statistics on while the test runs (BPF_ENABLE_STATS holds them on)."""
    from pybpf import bpf_commands as cmds

    fd = cmds.enable_stats()
    yield
    os.close(fd)


def run_profiler(name: str, argv_for_pid, seconds: float, bpf: bool = True) -> dict:
    """Run a profiler (``argv_for_pid(pid)``) on a fresh target; its cost and the target's."""
    target = Target("rate", seconds)
    child = TimedChild(argv_for_pid(target.pid))
    start = time.monotonic()
    ready = -1.0
    while bpf and child.proc.poll() is None and time.monotonic() - start < 30:
        pid = child.pid
        if pid is not None and holds_bpf_program(pid):
            ready = time.monotonic() - start
            break
        time.sleep(0.005)
    if not bpf:
        time.sleep(0.3)  # py-spy: give it time to attach (it reads /proc and the ELF)
    target.go()
    stats = None
    deadline = time.monotonic() + seconds - 0.5
    while time.monotonic() < deadline:
        time.sleep(0.1)
        pid = child.pid
        if bpf and pid is not None:
            stats = bpf_run_stats(pid) or stats
    info = target.summary()
    code, cpu, rss = child.wait(120)
    out = {"name": name, "cpu_s": cpu, "rss_mb": rss, "ready_s": ready, "code": code}
    out["rate"] = info["rate_cpu"]
    if stats and stats[1]:
        out["bpf_ns"] = stats[0] / stats[1]
        out["bpf_runs"] = stats[1]
    return out


def ours(freq: int, seconds: float, out: str, *extra: str):
    def argv(pid: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "profiler",
            "--pid",
            str(pid),
            "-F",
            str(freq),
            "-d",
            str(seconds),
            "-o",
            out,
            "-q",
            *extra,
        ]

    return argv


def py_spy(freq: int, seconds: float, out: str):
    tool = shutil.which("py-spy")
    if tool is None:
        skip_or_fail("needs py-spy (pip install py-spy)")

    def argv(pid: int) -> list[str]:
        return [
            tool,
            "record",
            "--nonblocking",
            "-r",
            str(freq),
            "-d",
            str(int(seconds)),
            "-p",
            str(pid),
            "-f",
            "raw",
            "-o",
            out,
        ]

    return argv


def baseline_rate(seconds: float) -> float:
    """Calls per second of the target's CPU time, with no profiler."""
    target = Target("rate", seconds)
    target.go()
    return target.summary()["rate_cpu"]


def _row(r: dict, base_rate: float) -> str:
    slow = 100 * (1 - r["rate"] / base_rate)
    bpf = f"  BPF {r['bpf_ns']:6.0f} ns/sample" if "bpf_ns" in r else ""
    ready = f"  ready {r['ready_s']:.2f} s" if r["ready_s"] >= 0 else ""
    return (
        f"{r['name']:<34} cpu {r['cpu_s']:5.2f} s  peak RSS {r['rss_mb']:6.1f} MB  "
        f"target slowdown {slow:5.1f} %{bpf}{ready}"
    )


@pytest.fixture(scope="module")
def machine():
    require_root()
    if not os.access(PYTHON, os.X_OK):
        skip_or_fail(f"needs {PYTHON}")


@pytest.mark.parametrize("freq", [99, 997])
def test_python_cost_beside_py_spy(machine, bpf_stats, tmp_path, freq):
    base = baseline_rate(SECONDS)
    mine = run_profiler(
        f"pureprof {freq} Hz", ours(freq, SECONDS, str(tmp_path / "p.pb.gz")), SECONDS
    )
    spy = run_profiler(
        f"py-spy --nonblocking {freq} Hz",
        py_spy(freq, SECONDS, str(tmp_path / "spy.txt")),
        SECONDS,
        bpf=False,
    )
    print()
    print(f"target alone: {base:.0f} fib(15) calls per CPU second ({SECONDS:g} s, Debian 3.11)")
    print(_row(mine, base))
    print(_row(spy, base))
    print(
        f"ratio ours/py-spy: cpu {mine['cpu_s'] / max(spy['cpu_s'], 1e-9):.2f}x, "
        f"peak RSS {mine['rss_mb'] / max(spy['rss_mb'], 1e-9):.2f}x"
    )
    assert mine["code"] == 0 and spy["code"] == 0


def test_where_our_cost_goes(machine, bpf_stats, tmp_path):
    """Ours at 997 Hz in configurations that switch one cost off at a time."""
    freq = 997
    out = str(tmp_path / "p.pb.gz")
    configs = [
        ("default (python auto, unwind auto)", ()),
        ("--python off (native stacks only)", ("--python", "off")),
        ("--unwind fp (no DWARF unwinding)", ("--unwind", "fp")),
        ("--debug-info off (symbol tables only)", ("--debug-info", "off")),
        ("--unwind fp --debug-info off", ("--unwind", "fp", "--debug-info", "off")),
    ]
    rows = []
    base = baseline_rate(SECONDS)
    for name, extra in configs:
        rows.append(run_profiler(name, ours(freq, SECONDS, out, *extra), SECONDS))
    # Start-up and idle: the same command on a target that sleeps.
    idle = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(600)"])
    try:
        child = TimedChild(ours(freq, SECONDS, out)(idle.pid))
        code, cpu, rss = child.wait(120)
    finally:
        idle.kill()
        idle.wait()
    assert code == 0
    print()
    print(f"target alone: {base:.0f} fib(15) calls per CPU second")
    for r in rows:
        print(_row(r, base))
    print(f"{'idle target (start-up + idle)':<34} cpu {cpu:5.2f} s  peak RSS {rss:6.1f} MB")
