"""The overhead benchmark's instruments: its /proc readers, ready signals and output counters.

The benchmark trusts these to say when a tool samples and how many samples of the workload it
wrote; here each is checked against a process whose state is known (the ready signals against
the real tools, on the real kernel).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench import overhead_tools, proc_watch
from bench.overhead_report import Config, ConfigResult, targets_summary
from bench.overhead_run import ToolRun, WorkloadRate
from tests.support import require_root, require_tool, wait_for

PERF_SCRIPT = """\
calltree-258e8b   100  6479.104955:    1003009 cpu-clock:
\t            1338 leaf_two+0x28 (/tmp/calltree)
\t            146b gamma_+0x4b (/tmp/calltree)
\t            111c main+0x7c (/tmp/calltree)

calltree-258e8b   100  6479.105955:    1003009 cpu-clock:
\tffffffff81000000 asm_sysvec_apic_timer_interrupt+0x1a ([kernel.kallsyms])
\t            1589 run+0x39 (/tmp/calltree)

other   200  6479.106955:    1003009 cpu-clock:
\t            1338 leaf_one+0x28 (/tmp/calltree)

Web Content   100/101 [001]  6479.107955:    1003009 cpu-clock:
\t            1338 leaf_three+0x28 (/tmp/calltree)
\t            1338 leaf_three+0x28 (/tmp/calltree)
"""

BPFTRACE_OUT = """\
Attaching 1 probe...


@[100, ,
    leaf_two+40
    gamma_+11
    main+124
]: 7
@[100,
        asm_sysvec_apic_timer_interrupt+26
,
    0x5624da2622e6
    0x5624da2623cc
]: 5
@[200, ,
    leaf_one+40
]: 3
"""


def test_perf_script_samples_counts_chains_of_the_pids_that_name_a_leaf(tmp_path):
    path = tmp_path / "script.txt"
    path.write_text(PERF_SCRIPT)
    # pid 100: the first sample and the last (with a CPU column and a tid); not the sample
    # without a leaf, nor pid 200's; a leaf twice in one chain is one sample.
    assert overhead_tools.perf_script_samples(str(path), [100]) == 2
    assert overhead_tools.perf_script_samples(str(path), [100, 200]) == 3
    assert overhead_tools.perf_script_samples(str(tmp_path / "absent"), [100]) == 0


def test_bpftrace_samples_counts_entries_of_the_pids_and_those_symbolized(tmp_path):
    path = tmp_path / "bpftrace.txt"
    path.write_text(BPFTRACE_OUT)
    assert overhead_tools.bpftrace_samples(str(path), [100]) == (12, 7)
    assert overhead_tools.bpftrace_samples(str(path), [200]) == (3, 3)


def test_process_cpu_clock_counts_the_child_in_nanoseconds():
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first = proc_watch.cpu_ns(child.pid)
        assert first is not None
        wait_for(lambda: (proc_watch.cpu_ns(child.pid) or 0) - first > 50_000_000, 10)
    finally:
        child.kill()
        child.wait()
    assert proc_watch.cpu_ns(child.pid) is None  # reaped: no such process clock


def test_process_tree_and_main_thread_syscall():
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import select, subprocess; p = subprocess.Popen(['sleep', '60']);"
            " select.poll().poll()",
        ]
    )
    try:
        wait_for(lambda: len(proc_watch.process_tree(child.pid)) == 2, 10, what="the sleep")
        wait_for(lambda: proc_watch.in_event_loop(child.pid, "poll"), 10, what="poll")
        sleeper = proc_watch.process_tree(child.pid)[1]
        wait_for(lambda: proc_watch.main_thread_syscall(sleeper) is not None, 10)
        assert not proc_watch.in_event_loop(sleeper, "poll")  # it sleeps, it does not poll
        assert proc_watch.bpf_fds(child.pid) == []
    finally:
        for pid in proc_watch.process_tree(child.pid)[::-1]:
            os.kill(pid, signal.SIGKILL)
        child.wait()


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _run_until_ready(argv: list[str], ready) -> None:
    """Start a tool, wait for its ready signal, check it holds on, stop it with SIGINT."""
    tool = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready(tool.pid), 30, what=f"{argv[0]} ready")
        time.sleep(0.2)  # still sampling a moment later: the signal is no passing state
        assert tool.poll() is None
    finally:
        tool.send_signal(signal.SIGINT)
        try:
            tool.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tool.kill()
            tool.wait()


def test_ours_ready_signal_on_the_real_profiler(sleeper, tmp_path):
    require_root()
    out = str(tmp_path / "p.pb.gz")
    argv = [sys.executable, "-m", "profiler", "-q", "--pid", str(sleeper), "-o", out]
    assert not overhead_tools.ours_is_sampling(os.getpid())
    _run_until_ready(argv, overhead_tools.ours_is_sampling)


def test_perf_ready_signal_on_perf_record(sleeper, tmp_path):
    require_root()
    perf = require_tool("perf")
    data = str(tmp_path / "perf.data")
    argv = [perf, "record", "-q", "-e", "cpu-clock", "-g", "-p", str(sleeper), "-o", data]
    _run_until_ready(argv, overhead_tools.perf_is_sampling)


def test_bpftrace_ready_signal(sleeper):
    require_root()
    bpftrace = require_tool("bpftrace")
    argv = [bpftrace, "-e", f"profile:hz:99 /pid == {sleeper}/ {{ @[ustack] = count(); }}"]
    _run_until_ready(argv, overhead_tools.bpftrace_is_sampling)


def _run(name: str, launch: float, cpu: float, rss: float, steady: float) -> ToolRun:
    return ToolRun(name, launch, cpu, rss, 0, False, WorkloadRate(100, 1.0, 1.0), steady)


def test_targets_summary_names_what_is_met_and_what_is_not():
    result = ConfigResult(Config(True, True, 99), 20, WorkloadRate(100, 1.0, 1.0))
    result.runs["ours"] = _run("ours", 0.1, 0.5, 30.0, 0.2)
    result.runs["perf -g"] = _run("perf -g", 0.2, 0.4, 25.0, 0.0)
    lines = targets_summary([result]).splitlines()
    verdict = {line.split(" : ")[0].strip(): line.split(" : ", 1)[1] for line in lines[1:]}
    assert verdict["launch <= 1.0x perf (frame pointers)"].startswith("met: fp-pid-99 0.50x")
    assert verdict["total CPU <= 1.0x perf + perf script (fp)"].startswith("NOT MET")
    assert verdict["steady <= 0.05 % at 99 Hz, <= 0.3 % at 997 Hz (fp)"].startswith("NOT MET")
    assert verdict["peak RSS <= 40 MB (every run of ours)"].startswith("met")
    assert verdict["DWARF path CPU <= 1.0x perf dwarf at 997 Hz"] == "not measured in this run"
