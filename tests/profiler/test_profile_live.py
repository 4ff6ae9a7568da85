"""The profiler on the real kernel: by pid, whole machine, exits, signals, leaks.

The workload starts only once the profiler is sampling, and reports its own CPU time, so the
number of samples to expect is known (CPU seconds × frequency) whatever else loads the machine.
At 997 Hz a 5 s run gives about 5 000 samples on a quiet machine: one leaf share then has a
standard error under 0.7 points, and the ±3 points allowed are over 4 standard errors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from profiler.bpf.options import SamplingOptions
from profiler.session import Session, SessionOptions, Targets, UnknownProcessError
from tests.conftest import bpf_objects_held_by
from tests.support import require_tool

from . import workloads
from .profiles import load, stacks_of, user_part

pytestmark = pytest.mark.bpf

EXPECTED_CHAINS = {
    "leaf_one": ("leaf_one", "alpha", "run", "main"),
    "leaf_two": ("leaf_two", "gamma_", "beta", "run", "main"),
    "leaf_three": ("leaf_three", "beta", "run", "main"),
}
# Samples we must see of a workload's CPU time (cpu-clock ticks it ran through). A little is
# lost at the edges (start-up of the workload is not in the window) and to jitter of the timer.
MIN_CAPTURE = 0.85


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "profiler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until_sampling(pid: int, timeout: float = 20) -> None:
    """Wait until process ``pid`` holds our sampling program (it is attached and running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = bpf_objects_held_by(pid)
        # Loaded, then attached: one BPF link per CPU once every perf event runs it.
        if any("pp_sampler" in h for h in held) and sum("link" in h for h in held) >= (
            os.cpu_count() or 1
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never loaded the sampler")


def profile_workload(binary: str, seconds: float, *cli: str):
    """Run the profiler on a waiting workload, start the workload once sampling, return both
    results: (profiler's CompletedProcess-like tuple (rc, stdout, stderr), workload's truth, pid).
    The run ends with the workload (a --pid run ends when its targets have exited).
    """
    work = workloads.start(binary, str(seconds), wait=True)
    argv = [sys.executable, "-m", "profiler", "--pid", str(work.pid), *cli]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_sampling(proc.pid)
        work.go()
        truth = work.result(timeout=seconds + 60)
        out, err = proc.communicate(timeout=60)
    finally:
        work.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (proc.returncode, out, err), truth, work.pid


@pytest.fixture(scope="module")
def calltree_fp() -> str:
    require_tool("gcc")
    return workloads.build("calltree", "-O2", "-fno-omit-frame-pointer")


def check_calltree_profile(
    path: str, pid: int, truth: dict, freq: int, min_complete: float
) -> None:
    """All the workload's CPU time is sampled, with the whole chain main→leaf, in true shares."""
    stacks = stacks_of(load(path), pid)
    total = sum(stacks.values())
    expected = truth["cpu_seconds"] * freq
    assert total >= MIN_CAPTURE * expected, f"{total} samples for {expected:.0f} expected"
    assert total <= 1.1 * expected + 20, f"{total} samples for {expected:.0f} expected"
    per_leaf: Counter[str] = Counter()
    complete: Counter[str] = Counter()
    for stack, count in stacks.items():
        leaf = stack[0] if stack else ""
        if leaf in EXPECTED_CHAINS:
            per_leaf[leaf] += count
            if user_part(stack) == EXPECTED_CHAINS[leaf]:
                complete[leaf] += count
    in_leaves = sum(per_leaf.values())
    # The rest (the loop in run, clock_gettime) is a small part of the time.
    assert in_leaves / total > 0.95, stacks.most_common(5)
    assert sum(complete.values()) / in_leaves >= min_complete, (
        f"only {sum(complete.values())}/{in_leaves} leaf samples have the complete stack "
        f"main→leaf; top stacks: {stacks.most_common(5)}"
    )
    for leaf, share in truth["shares"].items():
        measured = per_leaf[leaf] / in_leaves
        assert abs(measured - share) <= 0.03, f"{leaf}: {measured:.3f} vs truth {share:.3f}"


def test_pid_profile_has_complete_stacks_and_true_shares(tmp_path, calltree_fp):
    out = tmp_path / "p.pb.gz"
    (rc, stdout, stderr), truth, pid = profile_workload(
        calltree_fp, 5, "--freq", "997", "--duration", "8", "-o", str(out)
    )
    assert rc == 0, stderr
    assert "leaf_two" in stdout and f"Wrote {out}" in stdout
    check_calltree_profile(str(out), pid, truth, 997, min_complete=0.99)


def test_go_tool_pprof_reads_our_file_with_the_same_total(tmp_path, calltree_fp):
    go = require_tool("go")
    out = tmp_path / "p.pb.gz"
    (rc, _, stderr), _, _ = profile_workload(
        calltree_fp, 1.5, "--duration", "3", "-o", str(out), "-q"
    )
    assert rc == 0, stderr
    ours = load(str(out))
    raw = subprocess.run(
        [go, "tool", "pprof", "-raw", str(out)], capture_output=True, text=True, timeout=120
    )
    assert raw.returncode == 0, raw.stderr
    # -raw prints each sample as "  <samples> <cpu ns>: <location ids>".
    go_total = 0
    in_samples = False
    for line in raw.stdout.splitlines():
        if line.startswith("Samples:"):
            in_samples = True
            continue
        if in_samples and line.startswith("Locations"):
            break
        if in_samples and ":" in line and line.strip()[0].isdigit():
            go_total += int(line.split()[0])
    assert go_total == ours.total(0) > 0
    top = subprocess.run(
        [go, "tool", "pprof", "-top", str(out)], capture_output=True, text=True, timeout=120
    )
    assert top.returncode == 0 and "leaf_two" in top.stdout


def test_whole_machine_shows_kernel_frames_under_syscalls(tmp_path):
    require_tool("gcc")
    binary = workloads.build("syscalls", "-O2", "-fno-omit-frame-pointer")
    work = workloads.start(binary, "4")
    try:
        out = tmp_path / "m.pb.gz"
        res = run_cli("--duration", "2", "--freq", "199", "-o", str(out), "-q")
        assert res.returncode == 0, res.stderr
    finally:
        work.kill()
    stacks = stacks_of(load(str(out)), work.pid)
    total = sum(stacks.values())
    assert total > 20
    # Leaf-first stacks: kernel frames, then write (libc), (churn,) main. libc's write keeps no
    # frame pointer, so frame-pointer unwinding skips churn: only the DWARF unwinder sees it.
    kernel_entry = ("entry_SYSCALL", "do_syscall", "__x64_sys_write", "ksys_write", "vfs_write")
    through_syscall = sum(
        c
        for s, c in stacks.items()
        if "main" in s and any(n.startswith(kernel_entry) for n in s[: s.index("main")])
    )
    assert through_syscall / total > 0.5, stacks.most_common(5)


def test_target_that_exits_keeps_its_samples_and_symbols(tmp_path, calltree_fp):
    out = tmp_path / "e.pb.gz"
    (rc, _, stderr), truth, pid = profile_workload(
        calltree_fp, 1.5, "--freq", "499", "--duration", "5", "-o", str(out)
    )
    assert rc == 0, stderr
    stacks = stacks_of(load(str(out)), pid)
    named = sum(c for s, c in stacks.items() if s and s[0] in EXPECTED_CHAINS)
    # Symbolized although the process was gone when the profile was written.
    assert named >= MIN_CAPTURE * 0.95 * truth["cpu_seconds"] * 499
    assert named / sum(stacks.values()) > 0.9


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sigint_writes_what_was_collected_and_leaves_nothing_loaded(tmp_path, calltree_fp):
    out = tmp_path / "s.folded"
    work = workloads.start(calltree_fp, "60", wait=True)
    argv = [sys.executable, "-m", "profiler", "--pid", str(work.pid), "--freq", "199"]
    proc = subprocess.Popen(
        [*argv, "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_sampling(proc.pid)
        work.go()
        deadline = time.monotonic() + 60
        while cpu_seconds(work.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the workload has run a second of CPU
        proc.send_signal(signal.SIGINT)
        cpu = cpu_seconds(work.pid)
        _, stderr = proc.communicate(timeout=60)
        assert work.proc.poll() is None  # the signal ended the run, not the target's exit
    finally:
        work.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    lines = out.read_text().splitlines()
    assert any(line.startswith("calltree") and ";leaf_two " in line for line in lines), lines
    total = sum(int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("calltree"))
    assert total >= MIN_CAPTURE * cpu * 199


def test_unknown_pid_is_a_clear_error():
    res = run_cli("--pid", str(2**22 + 4321), "--duration", "1")
    assert res.returncode == 2
    assert "no process with pid" in res.stderr
    with pytest.raises(UnknownProcessError):
        Session(SessionOptions(Targets(pids=(2**22 + 4321,))))


def test_library_session_closes_everything(no_fd_leak, calltree_fp):
    work = workloads.start(calltree_fp, "1.5", wait=True)
    try:
        with Session(
            SessionOptions(Targets(pids=(work.pid,)), SamplingOptions(freq=199), drain_interval=0.5)
        ) as session:
            session.start()
            assert any("pp_sampler" in h for h in bpf_objects_held_by(os.getpid()))
            work.go()
            truth = work.result()
            profile = session.stop()
    finally:
        work.kill()
    assert bpf_objects_held_by(os.getpid()) == []
    assert profile.total >= MIN_CAPTURE * truth["cpu_seconds"] * 199
    assert profile.top(1)[0][0] in EXPECTED_CHAINS
    assert profile.kernel_stats.samples >= profile.total


def test_short_lived_process_keeps_its_symbols_through_exec_events(tmp_path, calltree_fp):
    # Whole machine: the workload starts after the profiler and exits long before a drain could
    # read its mappings; the exec event has them snapshotted 50 ms after it starts.
    out = tmp_path / "short.pb.gz"
    argv = [sys.executable, "-m", "profiler", "--freq", "499", "--duration", "4", "-o", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_sampling(proc.pid)
        work = workloads.start(calltree_fp, "0.4")
        truth = work.result()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    stacks = stacks_of(load(str(out)), work.pid)
    total = sum(stacks.values())
    assert total >= 0.5 * truth["cpu_seconds"] * 499 > 0
    named = sum(c for s, c in stacks.items() if s and s[0] in EXPECTED_CHAINS)
    assert named / total > 0.9, stacks.most_common(3)
