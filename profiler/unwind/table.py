"""Compact per-binary unwind tables: sorted pc starts -> the rule to step one frame.

A table keeps, for every pc range of a binary, only what an unwinder needs: how to compute the
CFA (sp+off, fp+off, ``*(sp+off)``, the PLT expression), where the return address is, where the
caller's frame pointer is, and whether the frame is a signal trampoline. Rows are shared tuples
(most binaries have a few hundred distinct rows for tens of thousands of pc ranges) and the pcs
are a packed ``array('Q')`` searched with ``bisect``. :meth:`UnwindTable.packed` gives the rows as
fixed-size little-endian records, ready to load into a BPF array map for an in-kernel walker.

Row layout (a tuple, also the packed record after the pc):
``(cfa_kind, cfa_reg, cfa_off, ra_kind, ra_off, fp_kind, fp_off, aux, signal)`` where
``cfa_reg`` is :data:`REG_SP` or :data:`REG_FP`, kinds are ``cfi.CFA_*`` / ``cfi.R_*`` (with
``R_AT_REG`` always relative to sp), ``aux`` is the PLT threshold, and ``cfa_kind ==
CFA_NONE`` marks a gap without CFI (the unwinder falls back to frame pointers there).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from . import cfi
from .arch import Arch
from .cfi import CFA_DEREF, CFA_PLT, CFA_REG, CFA_UNSUPPORTED, R_AT_REG, R_SAME, R_UNSUPPORTED
from .elf_binary import ElfUnwindInfo, LoadSegment, read_elf_unwind_info

CFA_NONE = 0  # no CFI covers this pc
REG_SP = 0
REG_FP = 1

Row = tuple[int, int, int, int, int, int, int, int, int]
NO_INFO: Row = (CFA_NONE, 0, 0, 0, 0, 0, 0, 0, 0)

# pc, cfa_kind, cfa_reg, ra_kind, fp_kind, aux, signal, 2 pad, cfa_off, ra_off, fp_off, 4 pad.
PACKED_ROW = struct.Struct("<QBBBBBBxxiiixxxx")


@dataclass(slots=True)
class UnwindTable:
    """The unwind rows of one binary, keyed by ELF virtual address."""

    build_id: str
    arch: Arch
    segments: tuple[LoadSegment, ...]
    pcs: array = field(default_factory=lambda: array("Q"))
    rows: list[Row] = field(default_factory=list)
    fde_count: int = 0
    unsupported_rows: int = 0  # rows whose CFA or RA rule we cannot evaluate

    def lookup(self, vaddr: int) -> Row:
        """The row that covers ``vaddr`` (:data:`NO_INFO` when no FDE does)."""
        i = bisect_right(self.pcs, vaddr) - 1
        if i < 0:
            return NO_INFO
        return self.rows[i]

    def __len__(self) -> int:
        return len(self.pcs)

    def packed(self) -> bytes:
        """All rows as :data:`PACKED_ROW` records (32 bytes each), sorted by pc."""
        out = bytearray(PACKED_ROW.size * len(self.pcs))
        pack = PACKED_ROW.pack_into
        for i, (pc, row) in enumerate(zip(self.pcs, self.rows, strict=True)):
            ck, creg, coff, rk, roff, fk, foff, aux, sig = row
            pack(out, i * PACKED_ROW.size, pc, ck, creg, rk, fk, aux, sig, coff, roff, foff)
        return bytes(out)


_INT32 = range(-(1 << 31), 1 << 31)  # the packed row's offset fields


def _register_rule(rule: tuple, arch: Arch) -> tuple[int, int]:
    kind, a, b = rule
    if kind in (cfi.R_OFFSET, cfi.R_VAL_OFFSET) and a not in _INT32:
        return (R_UNSUPPORTED, 0)  # no stack frame is 2 GiB: malformed CFI
    if kind == R_AT_REG:
        if b not in _INT32:
            return (R_UNSUPPORTED, 0)
        # Only sp-relative expressions (signal frames) are evaluated.
        return (R_AT_REG, b) if a == arch.sp else (R_UNSUPPORTED, 0)
    if kind == cfi.R_REGISTER:
        if arch.lr is not None and a == arch.lr:
            return (R_SAME, 0)  # "in the link register" = what a leaf on arm64 has
        return (R_UNSUPPORTED, 0)
    return (kind, a)


def _compact(cfa: tuple, regs: dict[int, tuple], arch: Arch, signal: bool) -> Row:
    kind = cfa[0]
    aux = 0
    if kind == CFA_REG or kind == CFA_DEREF or kind == CFA_PLT:
        reg = cfa[1]
        if reg == arch.sp:
            creg = REG_SP
        elif reg == arch.fp and kind == CFA_REG:
            creg = REG_FP
        else:
            kind, creg = CFA_UNSUPPORTED, 0
        coff = cfa[2]
        if coff not in _INT32:
            kind, creg, coff = CFA_UNSUPPORTED, 0, 0
        elif kind == CFA_PLT:
            aux = cfa[3]
    else:
        kind, creg, coff = CFA_UNSUPPORTED, 0, 0
    ra_rule = regs.get(arch.ra)
    if ra_rule is None:
        # No rule for the RA column: "same value". On arm64 that is the link register; on x86_64
        # the RA column (16) is not a real register, so the RA is lost.
        ra_kind, ra_off = (R_SAME, 0) if arch.lr is not None else (R_UNSUPPORTED, 0)
    else:
        ra_kind, ra_off = _register_rule(ra_rule, arch)
    fp_kind, fp_off = _register_rule(regs.get(arch.fp, (R_SAME, 0, 0)), arch)
    return (kind, creg, coff, ra_kind, ra_off, fp_kind, fp_off, aux, 1 if signal else 0)


def rows_of_fde(fde: cfi.Fde, arch: Arch, interned: dict[Row, Row]) -> tuple[list[int], list[Row]]:
    """The compact rows of one FDE: ``(pcs, rows)``, consecutive equal rows merged. ``interned``
    shares equal row tuples across FDEs."""
    signal = fde.cie.signal_frame
    pcs: list[int] = []
    rows: list[Row] = []
    # Only the RA and FP rules make it into a row: tracking no other register keeps each row's
    # copy of the rules small, whatever registers a (hostile) program names.
    keep = frozenset((arch.ra, arch.fp))
    for pc, cfa, regs in cfi.run_fde(fde, arch.ptr_size, keep):
        row = _compact(cfa, regs, arch, signal)
        row = interned.setdefault(row, row)
        if rows and rows[-1] is row:
            continue  # the same rule as the row before it: merge the ranges
        pcs.append(pc)
        rows.append(row)
    return pcs, rows


def build_table(info: ElfUnwindInfo) -> UnwindTable:
    """Build the unwind table of a binary from its CFI sections (``.eh_frame`` wins where both
    ``.eh_frame`` and ``.debug_frame`` describe a function). Raises ``cfi.CfiError`` for
    malformed CFI."""
    arch = info.arch
    fdes: list[cfi.Fde] = []
    covered: set[int] = set()
    for section in info.cfi:
        parsed = cfi.parse_cfi(
            section.data,
            section.addr,
            eh_frame=section.name == ".eh_frame",
            ptr_size=arch.ptr_size,
        )
        for fde in parsed:
            if fde.pc_begin not in covered:
                covered.add(fde.pc_begin)
                fdes.append(fde)
    fdes.sort(key=lambda f: f.pc_begin)
    interned: dict[Row, Row] = {NO_INFO: NO_INFO}
    pcs = array("Q")
    rows: list[Row] = []
    unsupported = 0
    for fde in fdes:
        fde_pcs, fde_rows = rows_of_fde(fde, arch, interned)
        for pc, row in zip(fde_pcs, fde_rows, strict=True):
            if row[0] == CFA_UNSUPPORTED or row[3] == R_UNSUPPORTED:
                unsupported += 1
            while pcs and pcs[-1] > pc:  # overlapping FDEs (rare): the later one wins
                pcs.pop()
                rows.pop()
            if rows and pcs[-1] == pc:  # replaces the gap row of the FDE just before
                rows[-1] = row
            else:
                pcs.append(pc)
                rows.append(row)
        # Close the FDE with a gap row; the next FDE usually starts right there and replaces it.
        pcs.append(fde.pc_end)
        rows.append(NO_INFO)
    return UnwindTable(
        build_id=info.build_id,
        arch=arch,
        segments=info.segments,
        pcs=pcs,
        rows=rows,
        fde_count=len(fdes),
        unsupported_rows=unsupported,
    )


def build_table_for_file(path: str) -> UnwindTable:
    """Read ``path`` and build its table (no caching: see :class:`profiler.unwind.cache`).

    Raises ``OSError``, or a ``FormatError`` (``ElfError``, ``CfiError``) for a malformed file.
    """
    return build_table(read_elf_unwind_info(path))
