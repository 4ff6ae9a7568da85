"""One profiler run beside the call-tree workload, measured from outside the profiler.

The sequence of one run (``run_beside``):

1. the workload copies start and wait (each prints its pid, then waits for a line on stdin);
2. the tool is spawned under GNU time, and the clock starts: **launch** ends when the tool's own
   ready signal (``Tool.ready``, see ``bench/overhead_tools.py``) says its sampling is running;
3. the workload is released; between 25 % and 75 % of its run the **steady** CPU of the tool's
   process tree is read from the process CPU clocks (``bench/proc_watch.py``), and, for BPF
   tools, the run time and run count of their perf-event programs (**BPF ns per sample**);
4. the workload ends and reports its own progress (loop iterations, its CPU seconds); a tool
   that ends with its target is left to exit, the others get SIGINT (Ctrl-C);
5. **total CPU** and **peak RSS** of the tool come from ``wait4`` on GNU time (which waits for
   the tool's whole process tree) and GNU time's ``%M`` (the tool's own peak, not that of this
   large parent: see ``bench/peers.py``); a tool that needs a second command to give a readable
   profile (``perf script``) has it run and measured the same way, its CPU added to the total.

The workload's **slowdown** compares its progress with a run without any tool (``run_alone``),
in the same configuration and the same sitting: iterations per CPU second (what sampling costs
inside the target: the interrupt, the BPF program or the kernel's stack copy) and iterations per
wall second (that plus the CPU the tool takes from it when every CPU is busy).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.profiler import workloads

from . import proc_watch

GNU_TIME = "/usr/bin/time"
READY_POLL_S = 0.005  # how often the ready signal is read: the resolution of launch times
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 180.0  # writing a whole-machine profile on a loaded machine can take a while
STEADY_WINDOW = (0.25, 0.75)  # fractions of the workload's run between which steady CPU is read


@dataclass
class Tool:
    """How to run one profiler beside the workload and check what it wrote.

    ``argv`` may hold ``{pid}`` (the profiled workload's pid). ``ready(pid)`` is the tool's own
    signal that sampling is running. ``ends_with_target``: it exits by itself when the workload
    does (else it gets SIGINT). ``post`` is a command that turns the tool's record into a readable
    profile (run after it; its output goes to ``post_stdout``). ``count_samples(pids)`` counts the
    samples of the workload's leaf functions in the profile; ``describe(pids)``, when given, says
    something worth knowing about it (printed as a note).
    """

    name: str
    argv: list[str]
    ready: Callable[[int], bool]
    count_samples: Callable[[list[int]], int]
    ends_with_target: bool = False
    stdout: str | None = None
    post: list[str] | None = None
    post_stdout: str | None = None
    describe: Callable[[list[int]], str | None] | None = None


@dataclass
class WorkloadRate:
    """The workload's own report of its progress (summed over its copies)."""

    iterations: int
    cpu_s: float
    wall_s: float

    @property
    def per_cpu_s(self) -> float:
        """Loop iterations per CPU second of the workload."""
        return self.iterations / self.cpu_s if self.cpu_s else 0.0

    @property
    def per_wall_s(self) -> float:
        """Loop iterations per second of its run (all copies together)."""
        return self.iterations / self.wall_s if self.wall_s else 0.0


@dataclass
class ToolRun:
    """What one tool cost in one run, and what it wrote."""

    name: str
    launch_s: float | None
    cpu_s: float
    rss_mb: float
    returncode: int
    stopped_by_sigint: bool
    work: WorkloadRate
    steady_pct: float | None = None
    bpf_ns_per_sample: float | None = None
    bpf_runs: int = 0
    post_cpu_s: float = 0.0
    post_rss_mb: float = 0.0
    post_returncode: int = 0
    samples: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_cpu_s(self) -> float:
        """CPU of the whole run including writing a readable profile (``post`` included)."""
        return self.cpu_s + self.post_cpu_s

    @property
    def ended_well(self) -> bool:
        """Exit 0, or death by the SIGINT we sent (how perf ends on Ctrl-C)."""
        by_sigint = self.stopped_by_sigint and self.returncode in (128 + signal.SIGINT, -2)
        return (self.returncode == 0 or by_sigint) and self.post_returncode == 0


class GnuTimed:
    """``argv`` run under GNU time: ``pid`` is the tool's own pid once it exists, ``finish()``
    gives its exit code, CPU seconds (``wait4`` on GNU time: the tool and its waited-for
    children) and peak RSS (GNU time's ``%M``)."""

    def __init__(self, argv: list[str], stdout: str | None = None) -> None:
        fd, self._report = tempfile.mkstemp(prefix="bench-time-", suffix=".txt")
        os.close(fd)
        # Created exclusively: a file that exists already is an error, not overwritten.
        out = open(stdout, "x") if stdout else subprocess.DEVNULL
        try:
            self.start = time.monotonic()
            self.proc = subprocess.Popen(
                [GNU_TIME, "-q", "-o", self._report, "-f", "%M", *argv],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        finally:
            if stdout:
                out.close()
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        """The tool's pid (GNU time's child), None until it has been forked."""
        if self._pid is None:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    children = f.read().split()
            except OSError:
                return None
            self._pid = int(children[0]) if children else None
        return self._pid

    def exited(self) -> bool:
        """Whether the tool (and so GNU time) has exited; does not reap it."""
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the tool itself (GNU time ignores SIGINT while it waits)."""
        pid = self.pid
        if pid is not None and not self.exited():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def finish(self, timeout: float = EXIT_TIMEOUT_S) -> tuple[int, float, float]:
        """Wait for the end: (exit code, CPU seconds, peak RSS in MB). Kills it after
        ``timeout`` (the tool first, then GNU time), so nothing is left running."""
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                break
            if time.monotonic() > deadline:
                if not killed:
                    self.signal(signal.SIGKILL)  # the tool first: GNU time then reports it
                    killed, deadline = True, time.monotonic() + 5
                else:
                    self.proc.kill()
            time.sleep(0.02)
        self.proc.returncode = code = os.waitstatus_to_exitcode(status)
        rss_kb = 0
        try:
            with open(self._report) as f:
                rss_kb = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass  # killed before GNU time wrote its report
        finally:
            os.unlink(self._report)
        return code, usage.ru_utime + usage.ru_stime, rss_kb / 1024

    def kill(self) -> None:
        """Make sure nothing of this run is left: kill the tool and reap GNU time."""
        if self.proc.returncode is None:
            self.finish(timeout=0)


def _start_copies(binary: str, seconds: float, copies: int) -> list[workloads.Running]:
    started = []
    try:
        for _ in range(copies):
            started.append(workloads.start(binary, str(seconds), wait=True))
    except BaseException:
        for w in started:
            w.kill()
        raise
    return started


def _rate(results: list[dict], seconds: float) -> WorkloadRate:
    return WorkloadRate(
        iterations=sum(int(r.get("iterations", 0)) for r in results),
        cpu_s=sum(float(r.get("cpu_seconds", 0.0)) for r in results),
        wall_s=seconds,
    )


def run_alone(binary: str, seconds: float, copies: int) -> WorkloadRate:
    """The workload without any tool: the baseline of its progress."""
    copies_ = _start_copies(binary, seconds, copies)
    try:
        for w in copies_:
            w.go()
        return _rate([w.result(timeout=seconds + 120) for w in copies_], seconds)
    finally:
        for w in copies_:
            w.kill()


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # a measurement window, not a wait for a condition


@dataclass
class _Snapshot:
    at: float
    cpu: dict[int, int]
    progs: dict[int, tuple[int, int]]


def _snapshot(pid: int) -> _Snapshot:
    return _Snapshot(
        time.monotonic(),
        proc_watch.tree_cpu_ns(proc_watch.process_tree(pid)),
        proc_watch.sampling_programs(proc_watch.bpf_fds(pid)),
    )


def _steady(a: _Snapshot, b: _Snapshot, run: ToolRun) -> None:
    """Fill the steady figures of ``run`` from two snapshots of the tool."""
    common = a.cpu.keys() & b.cpu.keys()
    if not common or b.at <= a.at:
        run.notes.append("steady CPU not read: the tool was gone")
        return
    if a.cpu.keys() != b.cpu.keys():
        run.notes.append("its processes changed during the steady window")
    run.steady_pct = 100.0 * sum(b.cpu[p] - a.cpu[p] for p in common) / 1e9 / (b.at - a.at)
    ns = runs = 0
    for prog_id, (run_ns, count) in b.progs.items():
        if prog_id in a.progs:
            ns += run_ns - a.progs[prog_id][0]
            runs += count - a.progs[prog_id][1]
    if b.progs:
        run.bpf_runs = runs
        run.bpf_ns_per_sample = ns / runs if runs else None


def run_beside(tool: Tool, binary: str, seconds: float, copies: int) -> ToolRun:
    """Run ``tool`` beside ``copies`` of the workload for ``seconds`` (see the module docstring)."""
    copies_ = _start_copies(binary, seconds, copies)
    pids = [w.pid for w in copies_]
    child = None
    try:
        argv = [a.replace("{pid}", str(pids[0])) for a in tool.argv]
        child = GnuTimed(argv, tool.stdout)
        launch = None
        deadline = child.start + READY_TIMEOUT_S
        while time.monotonic() < deadline and not child.exited():
            pid = child.pid
            if pid is not None and tool.ready(pid):
                launch = time.monotonic() - child.start
                break
            time.sleep(READY_POLL_S)
        go = time.monotonic()
        for w in copies_:
            w.go()
        first = second = None
        if launch is not None:
            _sleep_until(go + STEADY_WINDOW[0] * seconds)
            first = _snapshot(child.pid)
            _sleep_until(go + STEADY_WINDOW[1] * seconds)
            second = _snapshot(child.pid)
        work = _rate([w.result(timeout=seconds + 120) for w in copies_], seconds)
        by_sigint = False
        if not tool.ends_with_target:
            child.signal(signal.SIGINT)
            by_sigint = True
        code, cpu, rss = child.finish()
        run = ToolRun(tool.name, launch, cpu, rss, code, by_sigint, work)
        if launch is None:
            run.notes.append("never signalled that it was sampling")
        elif first is not None and second is not None:
            _steady(first, second, run)
        if tool.post is not None:
            post = GnuTimed(tool.post, tool.post_stdout)
            try:
                run.post_returncode, run.post_cpu_s, run.post_rss_mb = post.finish()
            finally:
                post.kill()
        run.samples = tool.count_samples(pids)
        if tool.describe is not None and (note := tool.describe(pids)):
            run.notes.append(note)
        return run
    finally:
        if child is not None:
            child.kill()
        for w in copies_:
            w.kill()
