"""How and why the unwinder stops: truncated copies, unknown mappings, frame limits, the frame-
pointer fallback in anonymous (JIT-like) code, unsupported rules, and an arm64 link register."""

from __future__ import annotations

import struct
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.process.maps import ProcessMaps
from profiler.unwind import AARCH64, X86_64, TableCache, Unwinder, unwind
from profiler.unwind import unwinder as unwinder_module
from profiler.unwind.cfi import CFA_REG, CFA_UNSUPPORTED, R_OFFSET, R_SAME, R_UNDEFINED
from profiler.unwind.elf_binary import LoadSegment
from profiler.unwind.table import NO_INFO, REG_SP, UnwindTable
from profiler.unwind.unwinder import (
    END_FP_ZERO,
    END_RA_UNDEFINED,
    FRAME_LIMIT,
    LR_LOST,
    NO_UNWIND_INFO,
    NOT_PROGRESSING,
    OUTSIDE_STACK,
    UNKNOWN_MAPPING,
    UNSUPPORTED_RULE,
)

from .snapshots import load_snapshot

ALL_REASONS = {
    getattr(unwinder_module, name)
    for name in dir(unwinder_module)
    if name.isupper()
    and isinstance(getattr(unwinder_module, name), str)
    and getattr(unwinder_module, name).startswith(("end of stack", "truncated"))
}


def full_chain(c_snapshots):
    _, directory = c_snapshots["omit_fp"]
    snap = load_snapshot(directory, "chain")
    return snap, Unwinder().unwind(snap.regs, snap.stack, snap.mappings)


def test_truncated_copy_stops_with_a_prefix(c_snapshots):
    snap, full = full_chain(c_snapshots)
    short = Unwinder().unwind(snap.regs, snap.stack[:200], snap.mappings)
    assert short.truncated and short.reason == OUTSIDE_STACK
    assert 1 <= len(short.addrs) < len(full.addrs)
    assert short.addrs == full.addrs[: len(short.addrs)]


def test_frame_limit(c_snapshots):
    snap, full = full_chain(c_snapshots)
    limited = Unwinder(max_frames=3).unwind(snap.regs, snap.stack, snap.mappings)
    assert (limited.addrs, limited.reason, limited.truncated) == (full.addrs[:3], FRAME_LIMIT, True)


def test_register_forms_and_default_unwinder(c_snapshots):
    snap, full = full_chain(c_snapshots)
    rip, rsp, rbp = snap.regs
    as_dict = unwind({"rip": rip, "rsp": rsp, "rbp": rbp}, snap.stack, snap.mappings)
    assert as_dict == full
    with pytest.raises(ValueError, match="rip/pc and rsp/sp"):
        unwind({"rbp": 0}, snap.stack, snap.mappings)


def test_pc_outside_every_mapping():
    result = Unwinder().unwind((0x10, 0x7000, 0), b"\0" * 64, ProcessMaps.from_text(""))
    assert (result.addrs, result.reason, result.truncated) == ((0x10,), UNKNOWN_MAPPING, True)


ANON_CODE = "00001000-00003000 r-xp 00000000 00:00 0 \n"


def frame_chain_stack(base: int, frames: list[tuple[int, int]]) -> bytes:
    """A stack at ``base`` with ``(saved fp, return address)`` records 32 bytes apart."""
    out = bytearray(32 * len(frames) + 16)
    for i, (saved_fp, ra) in enumerate(frames):
        struct.pack_into("<QQ", out, 16 + 32 * i, saved_fp, ra)
    return bytes(out)


def test_frame_pointer_fallback_in_anonymous_code():
    base = 0x7000
    # fp chain: 0x7010 -> 0x7030 -> 0 (the outermost frame clears rbp, as _start does).
    stack = frame_chain_stack(base, [(0x7030, 0x1500), (0, 0x1600)])
    result = Unwinder().unwind((0x1100, base, 0x7010), stack, ProcessMaps.from_text(ANON_CODE))
    assert result.addrs == (0x1100, 0x1500, 0x1600)
    assert (result.reason, result.truncated, result.fp_frames) == (END_FP_ZERO, False, 2)


def test_frame_pointer_fallback_rejects_a_frame_pointer_below_sp():
    stack = frame_chain_stack(0x7000, [(0x6000, 0x1500)])
    result = Unwinder().unwind((0x1100, 0x7000, 0x7010), stack, ProcessMaps.from_text(ANON_CODE))
    assert result.addrs == (0x1100, 0x1500) and result.reason == NO_UNWIND_INFO


class FixedTableCache(TableCache):
    """A cache that answers every file with one hand-built table (for rules real binaries
    rarely have)."""

    def __init__(self, table: UnwindTable) -> None:
        super().__init__()
        self.table = table

    def table_for_source(self, source) -> UnwindTable | None:
        return self.table


def hand_table(arch, rows) -> UnwindTable:
    seg = LoadSegment(offset=0, vaddr=0, filesz=0x10000, memsz=0x10000, executable=True)
    return UnwindTable(
        build_id="hand",
        arch=arch,
        segments=(seg,),
        pcs=array("Q", [pc for pc, _ in rows]),
        rows=[row for _, row in rows],
    )


FILE_CODE = "00400000-00410000 r-xp 00000000 08:01 1234 /fake/bin\n"


def row(cfa_kind=CFA_REG, cfa_off=8, ra_kind=R_OFFSET, ra_off=-8, fp_kind=R_SAME, fp_off=0):
    return (cfa_kind, REG_SP, cfa_off, ra_kind, ra_off, fp_kind, fp_off, 0, 0)


@pytest.mark.parametrize(
    ("leaf_row", "reason"),
    [
        (row(cfa_kind=CFA_UNSUPPORTED), UNSUPPORTED_RULE),
        (row(cfa_off=0, ra_off=0), NOT_PROGRESSING),  # the CFA must move up
        (row(ra_kind=R_UNDEFINED), END_RA_UNDEFINED),
    ],
)
def test_stops_on_rules(leaf_row, reason):
    table = hand_table(X86_64, [(0x1000, leaf_row), (0x2000, NO_INFO)])
    stack = struct.pack("<QQ", 0x401500, 0)
    unwinder = Unwinder(cache=FixedTableCache(table), arch=X86_64)
    result = unwinder.unwind((0x401100, 0x7000, 0), stack, ProcessMaps.from_text(FILE_CODE))
    assert result.addrs == (0x401100,) and result.reason == reason


def test_arm64_leaf_return_address_in_the_link_register():
    leaf = row(cfa_off=0, ra_kind=R_SAME)  # a leaf: CFA = sp, RA still in x30
    framed = row(cfa_off=32, ra_kind=R_OFFSET, ra_off=-24, fp_kind=R_OFFSET, fp_off=-32)
    table = hand_table(AARCH64, [(0x1000, leaf), (0x2000, framed), (0x3000, NO_INFO)])
    # sp = 0x7000: the framed caller keeps fp at cfa-32 (0x7000) and its RA at cfa-24 (0x7008).
    stack = struct.pack("<QQQQ", 0xAAAA, 0x401500, 0, 0) + b"\0" * 32
    regs = {"pc": 0x401100, "sp": 0x7000, "fp": 0x7000, "lr": 0x402010}
    unwinder = Unwinder(cache=FixedTableCache(table), arch=AARCH64)
    result = unwinder.unwind(regs, stack, ProcessMaps.from_text(FILE_CODE))
    # leaf -> (lr) 0x402010 in the framed function -> 0x401500 back in the leaf's range, where
    # the RA would be in the link register again: only the leaf has it.
    assert result.addrs == (0x401100, 0x402010, 0x401500)
    assert result.reason == LR_LOST and result.truncated


def test_pc_memo_bounded_and_transparent(c_snapshots):
    snap, full = full_chain(c_snapshots)
    tiny = Unwinder(max_memo=2)
    mappings = snap.mappings  # (a property: a new object per access)
    for _ in range(3):  # the memo is cleared again and again: same answer every time
        assert tiny.unwind(snap.regs, snap.stack, mappings) == full
    assert 0 < len(mappings.derived["unwind"][1]) <= 2


def test_memo_lives_with_the_snapshot(c_snapshots):
    snap, full = full_chain(c_snapshots)
    unwinder = Unwinder()
    first, second = snap.mappings, snap.mappings  # two snapshots of the same process
    assert unwinder.unwind(snap.regs, snap.stack, first) == full
    assert first.derived["unwind"][1] and "unwind" not in second.derived
    assert unwinder.unwind(snap.regs, snap.stack, second) == full


def test_mappings_of_a_live_process(no_fd_leak):
    import ctypes
    import os

    libc = ctypes.CDLL("libc.so.6")
    addr = ctypes.cast(libc.qsort, ctypes.c_void_p).value
    mappings = ProcessMaps.read(os.getpid())
    m = mappings.find(addr)
    assert m is not None and m.executable and m.path.endswith("libc.so.6")
    fd = mappings.source(m).open()
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    assert (st.st_dev, st.st_ino) == m.identity
    assert mappings.find(0) is None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_garbage_stacks_end_cleanly(c_snapshots, data):
    """Whatever the stack holds, the walk ends with a known reason and never raises."""
    snap, _ = full_chain(c_snapshots)
    stack = bytearray(snap.stack[:2048])
    for _ in range(data.draw(st.integers(0, 40))):
        at = data.draw(st.integers(0, len(stack) - 8))
        value = data.draw(
            st.one_of(
                st.integers(0, 2**64 - 1),
                st.sampled_from([0, snap.regs[0], snap.regs[1] + 64, snap.regs[1] - 8]),
            )
        )
        stack[at : at + 8] = value.to_bytes(8, "little")
    rip = data.draw(st.sampled_from([snap.regs[0], snap.regs[0] + 3, 0, 2**64 - 1]))
    rbp = data.draw(st.sampled_from([snap.regs[2], snap.regs[1] + 16, 0]))
    result = Unwinder(max_frames=64).unwind((rip, snap.regs[1], rbp), bytes(stack), snap.mappings)
    assert result.reason in ALL_REASONS
    assert 1 <= len(result.addrs) <= 64


def test_the_unwinder_keeps_no_process_alive(c_snapshots):
    import gc
    import weakref

    snap, full = full_chain(c_snapshots)
    unwinder = Unwinder()
    processes = [snap.mappings for _ in range(4)]  # four "processes" with the same layout
    for mappings in processes:
        assert unwinder.unwind(snap.regs, snap.stack, mappings) == full
    refs = [weakref.ref(m) for m in processes]
    del processes, mappings
    gc.collect()
    assert [r() for r in refs] == [None] * 4  # their memos went with them
