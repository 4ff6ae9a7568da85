"""Unwind real snapshots of a C program (gcc -O2) at known call trees: PIE executable, libc,
qsort calling back into the program, a signal handler, a thread, recursion.

Variants: no frame pointers (the subject), frame pointers (the control), no CFI at all for the
program's own code (frame-pointer fallback), and CFI only in ``.debug_frame``.
"""

from __future__ import annotations

import struct

import pytest

from profiler.unwind import TableCache, Unwinder
from profiler.unwind.unwinder import END_RA_UNDEFINED

from .snapshots import Naming, load_snapshot, symbol_table
from .workload_build import C_VARIANTS

LIB = "<shared library>"

# The call tree calltree.c builds, leaf first; consecutive frames outside the executable
# (libc, ld.so) are collapsed into one LIB entry.
EXPECTED = {
    "chain": ["take_snapshot", "func_c", "func_b", "func_a", "main", LIB, "_start"],
    "recursion": ["take_snapshot", *["recurse"] * 11, "main", LIB, "_start"],
    "qsort": ["take_snapshot", "compare_ints", LIB, "sort_numbers", "main", LIB, "_start"],
    "signal": ["take_snapshot", "on_signal", LIB, "raise_signal", "main", LIB, "_start"],
    "thread": ["take_snapshot", "func_c", "func_b", "func_a", "thread_main", LIB],
}


def collapse(names: list[str], exe_names: set[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        shown = name if name in exe_names else LIB
        if not (shown == LIB and out and out[-1] == LIB):
            out.append(shown)
    return out


def unwind_scenario(c_snapshots, variant: str, scenario: str, lazy: bool = True):
    exe, directory = c_snapshots[variant]
    snap = load_snapshot(directory, scenario)
    mappings = snap.mappings
    result = Unwinder(cache=TableCache(lazy=lazy)).unwind(snap.regs, snap.stack, mappings)
    names = Naming(mappings).names(result.addrs)
    exe_funcs = {name for _, name in symbol_table(str(exe)).syms.values()}
    return result, names, exe_funcs


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "eager"])
@pytest.mark.parametrize("variant", list(C_VARIANTS))
@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_unwinds_the_known_call_tree(c_snapshots, variant, scenario, lazy, no_fd_leak):
    result, names, exe_funcs = unwind_scenario(c_snapshots, variant, scenario, lazy)
    assert collapse(names, exe_funcs) == EXPECTED[scenario], names
    assert not result.truncated, result.reason
    assert result.reason == END_RA_UNDEFINED  # glibc's _start and clone3 mark the RA undefined


@pytest.mark.parametrize("variant", list(C_VARIANTS))
def test_qsort_stack_crosses_libc(c_snapshots, variant):
    _, names, exe_funcs = unwind_scenario(c_snapshots, variant, "qsort")
    inside = names[names.index("compare_ints") + 1 : names.index("sort_numbers")]
    assert inside and not set(inside) & exe_funcs
    assert {"qsort", "qsort_r"} & set(inside), inside  # the exported entry point is named


@pytest.mark.parametrize("variant", list(C_VARIANTS))
def test_signal_frame_is_stepped_through(c_snapshots, variant):
    result, names, _ = unwind_scenario(c_snapshots, variant, "signal")
    assert result.signal_frames == 1
    # Above the trampoline comes the interrupted code inside raise(): named without the -1.
    assert "raise" in names or "gsignal" in names, names


def test_frame_pointer_fallback_is_used_without_cfi(c_snapshots):
    result, _, _ = unwind_scenario(c_snapshots, "no_cfi", "chain")
    # take_snapshot, func_c, func_b, func_a, main have no CFI in this build.
    assert result.fp_frames == 5
    control, _, _ = unwind_scenario(c_snapshots, "omit_fp", "chain")
    assert control.fp_frames == 0


def test_same_addresses_as_frame_pointer_walk(c_snapshots):
    """In the frame-pointer build, walking the rbp chain by hand gives the same return
    addresses as CFI for the program's own frames (an independent oracle)."""
    _, directory = c_snapshots["with_fp"]
    snap = load_snapshot(directory, "chain")
    result = Unwinder().unwind(snap.regs, snap.stack, snap.mappings)
    rip, rsp, rbp = snap.regs
    chain = [rip]
    for _ in range(4):  # take_snapshot -> func_c -> func_b -> func_a -> main
        ra = struct.unpack_from("<Q", snap.stack, rbp + 8 - rsp)[0]
        rbp = struct.unpack_from("<Q", snap.stack, rbp - rsp)[0]
        chain.append(ra)
    assert list(result.addrs[:5]) == chain


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_stack_used_is_the_copy_the_walk_needs(c_snapshots, scenario):
    _, directory = c_snapshots["omit_fp"]
    snap = load_snapshot(directory, scenario)
    mappings = snap.mappings
    full = Unwinder().unwind(snap.regs, snap.stack, mappings)
    assert 0 < full.stack_used <= len(snap.stack)
    exact = Unwinder().unwind(snap.regs, snap.stack[: full.stack_used], mappings)
    assert exact.addrs == full.addrs and not exact.truncated
    short = Unwinder().unwind(snap.regs, snap.stack[: full.stack_used - 8], mappings)
    assert short.truncated and len(short.addrs) < len(full.addrs)
