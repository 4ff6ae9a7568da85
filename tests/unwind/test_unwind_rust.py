"""Unwind real snapshots of a Rust release build (opt-level=3, no frame pointers): closures,
std's sort calling back into our code, iterator adapters, dyn dispatch, a spawned thread."""

from __future__ import annotations

from profiler.unwind import Unwinder

from .snapshots import Naming, load_snapshot, symbol_table


def test_rust_snapshots_unwind_to_main_or_thread_entry(rust_snapshots):
    exe, directory, count = rust_snapshots
    exe_funcs = {name for _, name in symbol_table(str(exe)).syms.values()}
    unwinder = Unwinder()
    complete = 0
    failures = []
    for i in range(count):
        snap = load_snapshot(directory, f"rust{i}")
        mappings = snap.mappings
        result = unwinder.unwind(snap.regs, snap.stack, mappings)
        names = Naming(mappings).names(result.addrs)
        ours = [n for n in names if n in exe_funcs]
        reached_main = "main" in names and names[-1] == "_start"
        # A thread's stack goes through std's thread_start into libc (start_thread, clone3).
        reached_thread_entry = any("thread_start" in n for n in ours)
        leaf_ok = ours[0].startswith("_ZN4deep13take_snapshot")
        if not result.truncated and leaf_ok and (reached_main or reached_thread_entry):
            complete += 1
        else:
            failures.append((i, result.reason, names))
    assert count >= 50
    assert complete / count >= 0.95, failures[:3]


def test_rust_recursion_depth_is_exact(rust_snapshots):
    """Round r takes its first snapshot at recurse(5 + r % 20): the depth is known."""
    exe, directory, _ = rust_snapshots
    exe_funcs = {name for _, name in symbol_table(str(exe)).syms.values()}
    unwinder = Unwinder()
    depths = []
    for i in range(0, 60, 5):  # five snapshots per round; the first is the direct recursion
        snap = load_snapshot(directory, f"rust{i}")
        result = unwinder.unwind(snap.regs, snap.stack, snap.mappings)
        names = [n for n in Naming(snap.mappings).names(result.addrs) if n in exe_funcs]
        assert any("one_round" in n for n in names), names
        depths.append(sum(1 for n in names if "7recurse17h" in n))
    # recurse(0) tail-calls take_snapshot, so depth d shows d recurse frames.
    assert depths == [5 + r % 20 for r in range(len(depths))]
