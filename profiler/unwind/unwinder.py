"""The user-space unwinder: registers + a copy of the user stack -> return addresses.

This is perf's ``--call-graph dwarf`` approach: at sample time the kernel copies the user
registers and the top N KiB of the user stack; later, here, each frame is stepped with the CFI
row of its pc (from :mod:`profiler.unwind.table`), falling back to the frame-pointer chain where
a binary has no CFI for the pc (JIT code, stripped objects). Everything is plain values so a
ring-buffer record can be fed straight in.

Stopping is part of the result: ``truncated`` is False only when the walk reached a real end
of the stack (CFI marks the return address undefined, as glibc's ``_start`` and ``clone3`` do;
a return address or frame pointer of 0), and ``reason`` says why it stopped either way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..process.files import FileSource
from ..process.maps import Mapping
from .arch import Arch, host_arch
from .cache import VDSO, TableCache
from .cfi import CFA_DEREF, CFA_PLT, CFA_REG, R_AT_REG, R_OFFSET, R_SAME, R_UNDEFINED, R_VAL_OFFSET
from .elf_binary import vaddr_bias
from .table import CFA_NONE, NO_INFO, REG_SP, Row

if TYPE_CHECKING:
    from .cache import Table

# Why a walk stopped. The first three are clean ends of the stack.
END_RA_UNDEFINED = "end of stack: CFI marks the return address undefined"
END_RA_ZERO = "end of stack: return address 0"
END_FP_ZERO = "end of stack: frame pointer 0"
OUTSIDE_STACK = "truncated: CFA or saved register outside the copied stack"
UNKNOWN_MAPPING = "truncated: address in no executable mapping"
NO_UNWIND_INFO = "truncated: no CFI for the pc and no usable frame pointer"
UNSUPPORTED_RULE = "truncated: CFI rule we cannot evaluate (DWARF expression)"
NOT_PROGRESSING = "truncated: the stack pointer did not move up"
LR_LOST = "truncated: the return address is in the link register, which only the leaf has"
FRAME_LIMIT = "truncated: frame limit reached"
CLEAN_ENDS = frozenset({END_RA_UNDEFINED, END_RA_ZERO, END_FP_ZERO})

_U64 = struct.Struct("<Q").unpack_from
_MISSING = object()


class MappingsLike(Protocol):
    """What :func:`unwind` needs from a process's mappings (a
    :class:`~profiler.process.maps.ProcessMaps`)."""

    def find(self, addr: int) -> Mapping | None:
        """The executable mapping containing ``addr``."""

    def source(self, mapping: Mapping) -> FileSource:
        """Where the file behind ``mapping`` opens from."""

    @property
    def derived(self) -> dict:
        """Per-snapshot memos (the unwinder keeps its own under ``"unwind"``)."""


@dataclass(frozen=True, slots=True)
class UnwindResult:
    """Return addresses of a stack, leaf first (the sampled pc is ``addrs[0]``)."""

    addrs: tuple[int, ...]
    truncated: bool
    reason: str
    signal_frames: int = 0  # signal trampolines (``__restore_rt``) stepped through
    fp_frames: int = 0  # frames stepped with the frame-pointer fallback
    # Bytes from the sampled sp to the outermost CFA reached: how much of a stack copy this walk
    # needed (sizes the copy the sampler takes; perf takes 8 KiB by default).
    stack_used: int = 0


def _regs_tuple(regs: dict | tuple | list) -> tuple[int, int, int, int]:
    if isinstance(regs, dict):
        pc = regs.get("rip", regs.get("pc"))
        sp = regs.get("rsp", regs.get("sp"))
        fp = regs.get("rbp", regs.get("fp", regs.get("x29", 0)))
        lr = regs.get("lr", regs.get("x30", 0))
        if pc is None or sp is None:
            raise ValueError("unwind: regs needs rip/pc and rsp/sp")
        return pc, sp, fp or 0, lr or 0
    if len(regs) == 3:
        return regs[0], regs[1], regs[2], 0
    return regs[0], regs[1], regs[2], regs[3]


class Unwinder:
    """Unwinds copied user stacks; owns the table cache and per-mapping memos.

    One instance serves all processes: tables are shared by build id. What it memoizes per
    process (mapping -> table and bias, pc -> row) lives in the snapshot's ``derived`` dict, so it
    goes when the snapshot does.
    """

    def __init__(
        self,
        cache: TableCache | None = None,
        arch: Arch | None = None,
        max_frames: int = 256,
        max_memo: int = 65536,
    ) -> None:
        self.cache = cache if cache is not None else TableCache()
        self.arch = arch if arch is not None else host_arch()
        self.max_frames = max_frames
        self.max_memo = max_memo
        self.frames = 0
        self.samples = 0

    def _resolve(
        self, memo: dict[int, tuple[Table | None, int]], mappings: MappingsLike, m: Mapping
    ) -> tuple[Table | None, int]:
        entry = memo.get(m.start)
        if entry is not None:
            return entry
        table: Table | None = None
        bias = 0
        if m.path == VDSO:
            table = self.cache.vdso_table()
        elif m.is_file:
            table = self.cache.table_for_source(mappings.source(m))
        elif not m.path:
            # Anonymous code: CPython's perf trampolines (-X perf) have a known layout.
            from .trampolines import trampoline_table

            pid = getattr(mappings, "pid", None)
            entry = memo[m.start] = (trampoline_table(pid, m.start, self.arch.name), 0)
            return entry
        if table is not None:
            b = vaddr_bias(table.segments, m.start, m.offset, "x" in m.perms)
            if b is None:
                table = None
            else:
                bias = b
        entry = (table, bias)
        memo[m.start] = entry
        return entry

    def _row_for(self, pc: int, mappings: MappingsLike, memo: dict) -> Row | None:
        """The table row for a runtime pc; None when no executable mapping holds it."""
        m = mappings.find(pc)
        if m is None or "x" not in m.perms:
            return None
        table, bias = memo.get(m.start) or self._resolve(memo, mappings, m)
        return NO_INFO if table is None else table.lookup(pc + bias)

    def unwind(
        self, regs: dict | tuple | list, stack: bytes, mappings: MappingsLike
    ) -> UnwindResult:
        """Unwind one sample.

        ``regs``: ``(pc, sp, fp)`` (x86_64: rip, rsp, rbp; arm64 adds ``lr``) or a dict with those
        names. ``stack``: the bytes copied from ``sp`` upward. ``mappings``: the process's
        mappings (runtime address -> file). Returns runtime return addresses, leaf first.
        """
        pc, sp, fp, lr = _regs_tuple(regs)
        # ({mapping start: (table, bias)}, {pc: row}): the pc -> row memo is the hot path: a
        # profile revisits the same few thousand pcs, and one dict lookup replaces the mapping
        # search, the address translation and the table's binary search.
        held = mappings.derived.get("unwind")
        if held is None:
            held = mappings.derived["unwind"] = ({}, {})
        pc_rows = held[1]
        base = sp
        limit = len(stack) - 8
        addrs = [pc]
        adjust = 0  # the leaf's pc is exact; return addresses point after the call
        signals = 0
        fp_steps = 0
        reason = FRAME_LIMIT
        max_frames = self.max_frames
        while len(addrs) < max_frames:
            lookup_pc = pc - adjust
            row = pc_rows.get(lookup_pc, _MISSING)
            if row is _MISSING:
                row = self._row_for(lookup_pc, mappings, held[0])
                if len(pc_rows) >= self.max_memo:
                    pc_rows.clear()
                pc_rows[lookup_pc] = row
            if row is None:
                reason = UNKNOWN_MAPPING
                break
            ck, creg, coff, rk, roff, fk, foff, aux, sig = row
            if ck == CFA_NONE:
                # Frame-pointer fallback: [fp] = caller's fp, [fp + 8] = return address.
                if fp == 0:
                    reason = END_FP_ZERO
                    break
                i = fp - base
                if fp < sp or i < 0 or i + 8 > limit:
                    reason = NO_UNWIND_INFO
                    break
                cfa = fp + 16
                ra = _U64(stack, i + 8)[0]
                fp = _U64(stack, i)[0]
                fp_steps += 1
                sig = 0
                from_lr = False
            else:
                if ck == CFA_REG:
                    cfa = (sp if creg == REG_SP else fp) + coff
                elif ck == CFA_PLT:
                    cfa = sp + coff + (8 if (pc & 15) >= aux else 0)
                elif ck == CFA_DEREF:
                    i = sp + coff - base
                    if i < 0 or i > limit:
                        reason = OUTSIDE_STACK
                        break
                    cfa = _U64(stack, i)[0]
                else:
                    reason = UNSUPPORTED_RULE
                    break
                from_lr = False
                i = 0
                if rk == R_OFFSET:
                    i = cfa + roff - base
                elif rk == R_AT_REG:
                    i = sp + roff - base
                elif rk == R_UNDEFINED:
                    reason = END_RA_UNDEFINED
                    break
                elif rk == R_SAME and self.arch.lr is not None:
                    if not lr:
                        reason = LR_LOST
                        break
                    from_lr = True
                else:
                    reason = UNSUPPORTED_RULE
                    break
                if from_lr:
                    ra = lr
                elif i < 0 or i > limit:
                    reason = OUTSIDE_STACK
                    break
                else:
                    ra = _U64(stack, i)[0]
                if fk != R_SAME:
                    j = None
                    if fk == R_OFFSET:
                        j = cfa + foff - base
                    elif fk == R_AT_REG:
                        j = sp + foff - base
                    elif fk == R_VAL_OFFSET:
                        fp = cfa + foff
                    else:
                        fp = 0  # unknown from here: only CFI (not the fallback) can go on
                    if j is not None:
                        if j < 0 or j > limit:
                            reason = OUTSIDE_STACK
                            break
                        fp = _U64(stack, j)[0]
                if sig:
                    signals += 1
            if ra == 0:
                reason = END_RA_ZERO
                break
            # The CFA must move up the stack, except in a leaf that keeps its RA in the link
            # register (arm64: CFA = sp) and across a signal frame (the saved sp is anywhere).
            if (cfa < sp or (cfa == sp and not from_lr)) and not sig:
                reason = NOT_PROGRESSING
                break
            lr = 0  # the caller's link register is not recoverable after a call
            sp = cfa
            pc = ra
            # The frame above a signal trampoline was interrupted, not calling: its pc is exact.
            adjust = 0 if sig else 1
            addrs.append(ra)
        self.samples += 1
        self.frames += len(addrs)
        return UnwindResult(
            addrs=tuple(addrs),
            truncated=reason not in CLEAN_ENDS,
            reason=reason,
            signal_frames=signals,
            fp_frames=fp_steps,
            stack_used=max(0, sp - base) if sp - base <= limit + 8 else len(stack),
        )


_default: Unwinder | None = None


def unwind(regs: dict | tuple | list, stack: bytes, mappings: MappingsLike) -> UnwindResult:
    """Unwind one sample with a process-wide default :class:`Unwinder` (see its ``unwind``)."""
    global _default
    if _default is None:
        _default = Unwinder()
    return _default.unwind(regs, stack, mappings)
