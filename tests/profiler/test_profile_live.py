"""The profiler on the real kernel: by pid, whole machine, exits, signals, leaks.

Sample counts are sized so a correct profiler never fails: at 997 Hz for 5 s a workload gets
about 5 000 samples, so one leaf share has a standard error under 0.7 points, and the ±3 points
allowed are over 4 standard errors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from profiler.session import Session, SessionOptions, UnknownProcessError
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


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "profiler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def calltree_fp() -> str:
    require_tool("gcc")
    return workloads.build("calltree", "-O2", "-fno-omit-frame-pointer")


def check_calltree_profile(path: str, pid: int, truth: dict, min_complete: float) -> None:
    """Most samples are in the leaves, with the whole chain to main; shares match the truth."""
    stacks = stacks_of(load(path), pid)
    total = sum(stacks.values())
    # ~5 000 on a quiet machine; fewer when other work shares the CPUs.
    assert total > 1500, f"too few samples for pid {pid}: {total}"
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
    for leaf, share in truth.items():
        measured = per_leaf[leaf] / in_leaves
        assert abs(measured - share) <= 0.03, f"{leaf}: {measured:.3f} vs truth {share:.3f}"


def test_pid_profile_has_complete_stacks_and_true_shares(tmp_path, calltree_fp):
    work = workloads.start(calltree_fp, "7")
    try:
        out = tmp_path / "p.pb.gz"
        res = run_cli("--pid", str(work.pid), "--freq", "997", "--duration", "5", "-o", str(out))
        assert res.returncode == 0, res.stderr
        truth = work.result()
    finally:
        work.kill()
    assert "leaf_two" in res.stdout and f"Wrote {out}" in res.stdout
    check_calltree_profile(str(out), work.pid, truth, min_complete=0.99)


def test_go_tool_pprof_reads_our_file_with_the_same_total(tmp_path, calltree_fp):
    go = require_tool("go")
    work = workloads.start(calltree_fp, "3")
    try:
        out = tmp_path / "p.pb.gz"
        res = run_cli("--pid", str(work.pid), "--duration", "2", "-o", str(out), "-q")
        assert res.returncode == 0, res.stderr
    finally:
        work.kill()
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
    assert total > 100
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
    work = workloads.start(calltree_fp, "1.5")
    out = tmp_path / "e.pb.gz"
    res = run_cli("--pid", str(work.pid), "--freq", "499", "--duration", "3.5", "-o", str(out))
    work.result()
    assert res.returncode == 0, res.stderr
    stacks = stacks_of(load(str(out)), work.pid)
    named = sum(c for s, c in stacks.items() if s and s[0] in EXPECTED_CHAINS)
    # ~750 samples on a quiet machine (1.5 s at 499 Hz), symbolized although the process is gone.
    assert named > 200
    assert named / sum(stacks.values()) > 0.9


def test_sigint_writes_what_was_collected_and_leaves_nothing_loaded(tmp_path, calltree_fp):
    work = workloads.start(calltree_fp, "6")
    out = tmp_path / "s.folded"
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler", "--pid", str(work.pid), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # wait until it samples (start-up under load)
            held = bpf_objects_held_by(proc.pid)
            if any("pp_sampler" in h for h in held):
                break
            time.sleep(0.1)
        assert any("pp_sampler" in h for h in held), held
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        work.kill()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    lines = out.read_text().splitlines()
    assert any(line.startswith("calltree") and ";leaf_two " in line for line in lines), lines
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) > 100


def test_unknown_pid_is_a_clear_error():
    res = run_cli("--pid", str(2**22 + 4321), "--duration", "1")
    assert res.returncode == 2
    assert "no process with pid" in res.stderr
    with pytest.raises(UnknownProcessError):
        Session(SessionOptions(pids=[2**22 + 4321]))


def test_library_session_closes_everything(no_fd_leak, calltree_fp):
    work = workloads.start(calltree_fp, "3")
    try:
        with Session(SessionOptions(freq=199, pids=[work.pid], drain_interval=0.5)) as session:
            session.start()
            assert any("pp_sampler" in h for h in bpf_objects_held_by(os.getpid()))
            time.sleep(1.5)
            profile = session.stop()
    finally:
        work.kill()
    assert bpf_objects_held_by(os.getpid()) == []
    assert profile.total > 100
    assert profile.top(1)[0][0] in EXPECTED_CHAINS
    assert profile.kernel_stats.samples >= profile.total
