"""Complete user stacks without frame pointers: DWARF unwinding of copied stacks, end to end."""

from __future__ import annotations

import pytest

from tests.support import require_tool

from . import workloads
from .profiles import load, stacks_of, user_part
from .test_profile_live import (
    EXPECTED_CHAINS,
    check_calltree_profile,
    profile_workload,
    run_cli,
)

pytestmark = pytest.mark.bpf

# Where a thread's stack really ends: the main thread in _start, others in clone3/start_thread.
THREAD_ENTRIES = ("_start", "clone3", "__clone3", "clone", "__clone", "start_thread")


@pytest.fixture(scope="module")
def calltree_nofp() -> str:
    require_tool("gcc")
    return workloads.build("calltree", "-O2", "-fomit-frame-pointer")


def test_no_frame_pointers_complete_stacks_with_dwarf(tmp_path, calltree_nofp):
    out = tmp_path / "d.pb.gz"
    (rc, _, stderr), truth, pid = profile_workload(
        calltree_nofp, 5, "--freq", "997", "--duration", "8", "-o", str(out)
    )
    assert rc == 0, stderr
    check_calltree_profile(str(out), pid, truth, 997, min_complete=0.95)


def test_frame_pointer_unwinding_alone_fails_on_the_same_binary(tmp_path, calltree_nofp):
    out = tmp_path / "f.pb.gz"
    (rc, _, stderr), _, pid = profile_workload(
        calltree_nofp, 1.5, "--freq", "499", "--duration", "4", "--unwind", "fp", "-o", str(out)
    )
    assert rc == 0, stderr
    stacks = stacks_of(load(str(out)), pid)
    leaf_samples = sum(c for s, c in stacks.items() if s and s[0] in EXPECTED_CHAINS)
    complete = sum(c for s, c in stacks.items() if s and EXPECTED_CHAINS.get(s[0]) == user_part(s))
    assert leaf_samples > 100
    assert complete / leaf_samples < 0.2  # the control: fp unwinding loses the callers


def test_dwarf_recovers_the_caller_that_libc_hides(tmp_path):
    require_tool("gcc")
    binary = workloads.build("syscalls", "-O2", "-fno-omit-frame-pointer")
    work = workloads.start(binary, "4")
    try:
        out = tmp_path / "s.pb.gz"
        res = run_cli(
            "--pid",
            str(work.pid),
            "--duration",
            "2",
            "--freq",
            "199",
            "--unwind",
            "dwarf",
            "-o",
            str(out),
            "-q",
        )
        assert res.returncode == 0, res.stderr
    finally:
        work.kill()
    stacks = stacks_of(load(str(out)), work.pid)
    total = sum(stacks.values())
    assert total > 20
    # write() in libc has no frame pointer: only DWARF unwinding finds churn above it.
    with_churn = sum(c for s, c in stacks.items() if "churn" in s and "main" in s)
    assert with_churn / total > 0.9, stacks.most_common(3)


@pytest.fixture(scope="module")
def rust_threads() -> str:
    require_tool("rustc")
    return workloads.build(
        "threads",
        "-C",
        "opt-level=3",
        "-C",
        "force-frame-pointers=no",
        compiler="rustc",
        suffix=".rs",
    )


def rust_reach(path: str, pid: int) -> tuple[float, dict]:
    stacks = stacks_of(load(path), pid)
    total = sum(stacks.values())
    assert total > 300
    reached = sum(c for s, c in stacks.items() if s and s[-1] in THREAD_ENTRIES)
    return reached / total, stacks


def test_rust_release_without_frame_pointers_reaches_thread_entry(tmp_path, rust_threads):
    out = tmp_path / "r.pb.gz"
    (rc, _, stderr), _, pid = profile_workload(
        rust_threads, 3, "--freq", "499", "--duration", "6", "--unwind", "dwarf", "-o", str(out)
    )
    assert rc == 0, stderr
    share, stacks = rust_reach(str(out), pid)
    assert share >= 0.95, stacks.most_common(5)
    # Both threads' roots appear, and the call tree in between is named.
    roots = {s[-1] for s in stacks if s}
    assert "_start" in roots and roots & set(THREAD_ENTRIES[1:])
    assert any("threads::middle" in n for s in stacks for n in s)


def test_rust_with_auto_switches_to_dwarf_after_a_first_look(tmp_path, rust_threads):
    # Rust's std keeps frame pointers but this crate does not: the executable looks like it has
    # them, so auto starts with frame pointers, sees stacks that end nowhere, and switches.
    out = tmp_path / "a.pb.gz"
    (rc, _, stderr), _, pid = profile_workload(
        rust_threads, 5, "--freq", "499", "--duration", "8", "-o", str(out)
    )
    assert rc == 0, stderr
    share, stacks = rust_reach(str(out), pid)
    assert share >= 0.8, stacks.most_common(5)
