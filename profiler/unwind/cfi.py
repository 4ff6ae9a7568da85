"""Parse DWARF call frame information (``.eh_frame`` and ``.debug_frame``) and run its programs.

A CIE holds what a group of functions share (alignment factors, the return-address column, the
pointer encoding of its FDEs, the initial instructions); an FDE covers one pc range and carries
the CFA program that says, instruction by instruction, where the caller's registers are.
:func:`parse_cfi` reads the section bytes into :class:`Fde` values; :func:`run_fde` executes an
FDE's program into rows ``(pc, cfa_rule, register_rules)``.

Why our own parser and not pyelftools' ``CallFrameInfo``: pyelftools 0.33 parses libc's
``.eh_frame`` in ~0.4 s and its ``get_decoded()`` raises on ``DW_CFA_GNU_args_size`` (0x2e),
which libc uses. This module reads the bytes with ``struct`` and is several times faster (see
``bench/test_bench_unwind.py``); the tests cross-check it against pyelftools and ``readelf``.

Rules are plain tuples so the table builder can compare and pack them cheaply:

* CFA rules: ``(CFA_REG, reg, offset)`` (reg + offset), ``(CFA_DEREF, reg, offset)``
  (``*(reg + offset)``, glibc's signal frame), ``(CFA_PLT, reg, offset, threshold)`` (the PLT
  stub expression ``reg + offset + ((pc & 15) >= threshold) * 8``), ``(CFA_UNSUPPORTED, 0, 0)``.
* register rules: ``(R_UNDEFINED, 0, 0)``, ``(R_SAME, 0, 0)``, ``(R_OFFSET, offset, 0)``
  (saved at CFA + offset), ``(R_VAL_OFFSET, offset, 0)`` (value is CFA + offset),
  ``(R_REGISTER, reg, 0)``, ``(R_AT_REG, reg, offset)`` (saved at reg + offset: a one-op
  ``DW_OP_bregN`` expression), ``(R_UNSUPPORTED, 0, 0)``. A register without a rule is unchanged.

The section bytes come from profiled targets, so every public function here is total: malformed,
truncated or oversized input raises :class:`CfiError` (never ``IndexError``, ``struct.error`` or
a LEB128 error), entries must lie inside their section, and the interpreter's work is capped
(register numbers, ``remember_state`` depth, program length, rows times registers copied).
"""

from __future__ import annotations

import functools
import struct
import sys
from array import array
from dataclasses import dataclass

from ..elf.errors import FormatError, Leb128Error
from ..elf.leb128 import sleb128, uleb128

# CFA rule kinds.
CFA_REG = 1
CFA_DEREF = 2
CFA_PLT = 3
CFA_UNSUPPORTED = 4

# Register rule kinds.
R_SAME = 0
R_UNDEFINED = 1
R_OFFSET = 2
R_VAL_OFFSET = 3
R_REGISTER = 4
R_AT_REG = 5
R_UNSUPPORTED = 6

# DW_EH_PE_* pointer encodings (LSB "Exception Frames").
PE_OMIT = 0xFF
PE_INDIRECT = 0x80

_U16 = struct.Struct("<H").unpack_from
_S16 = struct.Struct("<h").unpack_from
_U32 = struct.Struct("<I").unpack_from
_S32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_S64 = struct.Struct("<q").unpack_from


class CfiError(FormatError):
    """The call frame information is malformed (names the section offset)."""


# What Python raises on bytes that end early or a LEB128 that never ends; the public functions
# turn exactly these into CfiError.
_TRUNCATED = (IndexError, struct.error, Leb128Error)
MAX_ADDRESS = (1 << 64) - 1
MAX_REGISTER = 1024  # DWARF register numbers: x86_64 < 130, aarch64 < 128 (SVE included)
MAX_STATE_DEPTH = 64  # nested DW_CFA_remember_state
MAX_PROGRAM = 1 << 16  # bytes of one FDE's (or CIE's) instructions; real ones are < 4 KiB
# Register rules copied into rows (and remembered states) per byte of program, plus a base:
# a row costs 1 + its register count. Real programs stay under ~10 a byte.
_COPIES_PER_BYTE = 24
_COPIES_BASE = 1 << 14


@dataclass(frozen=True, slots=True)
class Cie:
    """A Common Information Entry."""

    offset: int  # offset in its section
    version: int
    augmentation: str
    code_align: int
    data_align: int
    ra_reg: int
    fde_encoding: int  # DW_EH_PE_* of the FDE's pc_begin ('R'); absptr when absent
    signal_frame: bool  # 'S': frames of this CIE are signal trampolines
    initial_instructions: bytes


@dataclass(frozen=True, slots=True)
class Fde:
    """A Frame Description Entry: the pc range ``[pc_begin, pc_end)`` and its CFA program."""

    offset: int
    cie: Cie
    pc_begin: int
    pc_end: int
    instructions: bytes


def read_encoded(
    data: bytes, pos: int, encoding: int, section_addr: int, ptr_size: int = 8
) -> tuple[int, int]:
    """Read a ``DW_EH_PE_*``-encoded pointer at ``pos``; returns ``(value, next_pos)``.

    Only the pc-relative application (``pcrel``, what linkers emit) and absolute values are
    resolved; ``datarel``/``textrel``/``funcrel`` need bases we do not track and raise.
    """
    try:
        return _read_encoded(data, pos, encoding, section_addr, ptr_size)
    except _TRUNCATED as e:
        raise CfiError(f"pointer at offset {pos:#x}: {e or 'truncated'}") from None


def _read_encoded(
    data: bytes, pos: int, encoding: int, section_addr: int, ptr_size: int = 8
) -> tuple[int, int]:
    if encoding == PE_OMIT:
        return 0, pos
    fmt = encoding & 0x0F
    start = pos
    if fmt == 0x00:  # absptr
        value = (_U64 if ptr_size == 8 else _U32)(data, pos)[0]
        pos += ptr_size
    elif fmt == 0x01:
        value, pos = uleb128(data, pos)
    elif fmt == 0x02:
        value = _U16(data, pos)[0]
        pos += 2
    elif fmt == 0x03:
        value = _U32(data, pos)[0]
        pos += 4
    elif fmt == 0x04:
        value = _U64(data, pos)[0]
        pos += 8
    elif fmt == 0x09:
        value, pos = sleb128(data, pos)
    elif fmt == 0x0A:
        value = _S16(data, pos)[0]
        pos += 2
    elif fmt == 0x0B:
        value = _S32(data, pos)[0]
        pos += 4
    elif fmt == 0x0C:
        value = _S64(data, pos)[0]
        pos += 8
    else:
        raise CfiError(f"unknown pointer encoding {encoding:#x} at offset {start:#x}")
    application = encoding & 0x70
    if application == 0x10:  # pcrel: relative to the address of the field itself
        value += section_addr + start
    elif application != 0:
        raise CfiError(f"unsupported pointer application {encoding:#x} at offset {start:#x}")
    # PE_INDIRECT (the value is the address of the pointer) only appears on personality
    # routines, which we skip: nothing here needs it dereferenced.
    return value & 0xFFFFFFFFFFFFFFFF, pos


def _parse_cie(data: bytes, offset: int, pos: int, end: int, eh: bool, section_addr: int) -> Cie:
    if end > len(data):
        raise CfiError(f"CIE at {offset:#x} runs past the end of the section")
    version = data[pos]
    pos += 1
    aug_end = data.find(b"\0", pos, end)
    if aug_end < 0:
        raise CfiError(f"CIE at {offset:#x}: augmentation string without its end")
    augmentation = data[pos:aug_end].decode("ascii", "replace")
    pos = aug_end + 1
    if "eh" in augmentation:  # ancient GCC: an eh_ptr follows the augmentation string
        pos += 8
    if not eh and version >= 4:
        pos += 2  # address_size, segment_selector_size
    code_align, pos = uleb128(data, pos)
    data_align, pos = sleb128(data, pos)
    if version == 1:
        ra_reg = data[pos]
        pos += 1
    else:
        ra_reg, pos = uleb128(data, pos)
    fde_encoding = 0
    signal_frame = False
    if augmentation.startswith("z"):
        aug_len, pos = uleb128(data, pos)
        aug_data_end = pos + aug_len
        for ch in augmentation[1:]:
            if ch == "R":
                fde_encoding = data[pos]
                pos += 1
            elif ch == "L":
                pos += 1  # LSDA encoding: we do not need the LSDA
            elif ch == "P":
                # Personality pointer: skipped, so only its size matters (not its base).
                _, pos = _read_encoded(data, pos + 1, data[pos] & 0x0F, 0)
            elif ch == "S":
                signal_frame = True
            # 'B' (arm64 BTI/pauth key), 'G' (MTE): no data; unknown letters: the length
            # field lets us skip the rest safely.
        pos = aug_data_end
    elif augmentation not in ("", "eh"):
        raise CfiError(f"CIE at {offset:#x}: unknown augmentation {augmentation!r}")
    if pos > end:
        raise CfiError(f"CIE at {offset:#x}: its fields run past its end")
    if end - pos > MAX_PROGRAM:
        raise CfiError(f"CIE at {offset:#x}: {end - pos} bytes of instructions")
    return Cie(
        offset=offset,
        version=version,
        augmentation=augmentation,
        code_align=code_align,
        data_align=data_align,
        ra_reg=ra_reg,
        fde_encoding=fde_encoding,
        signal_frame=signal_frame,
        initial_instructions=bytes(data[pos:end]),
    )


def parse_cfi(data: bytes, section_addr: int, *, eh_frame: bool, ptr_size: int = 8) -> list[Fde]:
    """All FDEs of an ``.eh_frame`` (``eh_frame=True``) or ``.debug_frame`` section.

    ``section_addr`` is the section's ``sh_addr`` (the base of pc-relative pointers). Addresses
    in the result are ELF virtual addresses. Entries are returned in section order.
    Raises :class:`CfiError` for a malformed section.
    """
    cies: dict[int, Cie] = {}
    fdes: list[Fde] = []
    pos = 0
    size = len(data)
    while pos + 4 <= size:
        fde, pos = _parse_entry_at(data, pos, section_addr, eh_frame, cies, ptr_size)
        if pos < 0:
            break  # the .eh_frame terminator
        if fde is not None and fde.pc_end > fde.pc_begin:
            fdes.append(fde)  # zero-length FDEs (discarded by the linker) cover nothing
    return fdes


def parse_entry_at(
    data: bytes, pos: int, section_addr: int, eh_frame: bool, cies: dict[int, Cie], ptr_size: int
) -> tuple[Fde | None, int]:
    """Parse the CIE or FDE at ``pos``; returns ``(fde or None for a CIE, next position)``.

    The next position is -1 at the ``.eh_frame`` terminator. ``cies`` caches CIEs by offset
    (parsed on demand when an FDE names one not seen yet, as a lookup through
    ``.eh_frame_hdr`` does). Raises :class:`CfiError` for a malformed entry or a ``pos``
    outside the section.
    """
    if not 0 <= pos <= len(data) - 4:
        raise CfiError(f"no CFI entry can start at {pos:#x} (section of {len(data)} bytes)")
    return _parse_entry_at(data, pos, section_addr, eh_frame, cies, ptr_size)


def _parse_entry_at(
    data: bytes, pos: int, section_addr: int, eh_frame: bool, cies: dict[int, Cie], ptr_size: int
) -> tuple[Fde | None, int]:
    try:
        return _parse_entry(data, pos, section_addr, eh_frame, cies, ptr_size)
    except _TRUNCATED as e:
        raise CfiError(f"entry at {pos:#x} is truncated ({e})") from None


def _parse_entry(
    data: bytes, pos: int, section_addr: int, eh_frame: bool, cies: dict[int, Cie], ptr_size: int
) -> tuple[Fde | None, int]:
    size = len(data)
    offset = pos
    length = _U32(data, pos)[0]
    pos += 4
    if length == 0:
        return None, (-1 if eh_frame else pos)
    is64 = length == 0xFFFFFFFF
    if is64:
        length = _U64(data, pos)[0]
        pos += 8
    end = pos + length
    if end > size:
        raise CfiError(f"entry at {offset:#x} runs past the end of the section")
    id_pos = pos
    if is64:
        cie_id = _U64(data, pos)[0]
        pos += 8
        is_cie = cie_id == (0 if eh_frame else 0xFFFFFFFFFFFFFFFF)
    else:
        cie_id = _U32(data, pos)[0]
        pos += 4
        is_cie = cie_id == (0 if eh_frame else 0xFFFFFFFF)
    if is_cie:
        if offset not in cies:
            cies[offset] = _parse_cie(data, offset, pos, end, eh_frame, section_addr)
        return None, end
    # eh_frame: the CIE pointer counts back from the pointer field; debug_frame: section offset.
    cie_offset = id_pos - cie_id if eh_frame else cie_id
    cie = cies.get(cie_offset)
    if cie is None:
        if cie_offset > size - 4 or cie_offset < 0:
            raise CfiError(f"FDE at {offset:#x} names a CIE outside the section")
        cie = _parse_cie_at(data, cie_offset, eh_frame, section_addr)
        cies[cie_offset] = cie
    if eh_frame:
        pc_begin, pos = _read_encoded(data, pos, cie.fde_encoding, section_addr, ptr_size)
        pc_range, pos = _read_encoded(data, pos, cie.fde_encoding & 0x0F, 0, ptr_size)
        if cie.augmentation.startswith("z"):
            aug_len, pos = uleb128(data, pos)
            pos += aug_len
    else:
        unpack = _U64 if ptr_size == 8 else _U32
        pc_begin = unpack(data, pos)[0]
        pc_range = unpack(data, pos + ptr_size)[0]
        pos += 2 * ptr_size
    if pos > end:
        raise CfiError(f"FDE at {offset:#x}: its fields run past its end")
    if end - pos > MAX_PROGRAM:
        raise CfiError(f"FDE at {offset:#x}: {end - pos} bytes of instructions")
    pc_end = min(pc_begin + pc_range, MAX_ADDRESS)  # a range past 2**64 is cut there
    return Fde(offset, cie, pc_begin, pc_end, bytes(data[pos:end])), end


def parse_eh_frame_hdr(data: bytes, hdr_addr: int) -> tuple[int, array, array] | None:
    """The binary-search table of an ``.eh_frame_hdr``: ``(eh_frame address, sorted function
    start vaddrs, the matching FDE vaddrs)`` as ``array('q')``; None if its encoding is not the
    usual ``datarel|sdata4`` (then build the whole table instead). Raises :class:`CfiError` for
    a malformed one."""
    if len(data) < 4 or data[0] != 1:
        return None
    eh_ptr_enc, count_enc, table_enc = data[1], data[2], data[3]
    if table_enc != 0x3B or count_enc == PE_OMIT:
        return None
    eh_frame_ptr, pos = read_encoded(data, 4, eh_ptr_enc, hdr_addr)
    count, pos = read_encoded(data, pos, count_enc & 0x0F, 0)
    if pos + 8 * count > len(data):
        raise CfiError(".eh_frame_hdr table runs past the end of the section")
    pairs = array("i")
    pairs.frombytes(data[pos : pos + 8 * count])
    if sys.byteorder != "little":
        pairs.byteswap()
    if pairs and not 0 <= hdr_addr + min(pairs) <= hdr_addr + max(pairs) < 1 << 63:
        raise CfiError(".eh_frame_hdr table points outside the address space")
    # datarel: relative to the start of .eh_frame_hdr. Arrays: 8 bytes an entry, not ~40.
    starts = array("q", [hdr_addr + v for v in pairs[0::2]])
    fdes = array("q", [hdr_addr + v for v in pairs[1::2]])
    return eh_frame_ptr, starts, fdes


def _parse_cie_at(data: bytes, offset: int, eh: bool, section_addr: int) -> Cie:
    pos = offset
    length = _U32(data, pos)[0]
    pos += 4
    if length == 0xFFFFFFFF:
        length = _U64(data, pos)[0]
        pos += 16
        end = offset + 12 + length
    else:
        end = offset + 4 + length
        pos += 4
    if pos > end:
        raise CfiError(f"the CIE an FDE names at {offset:#x} is too short")
    return _parse_cie(data, offset, pos, end, eh, section_addr)


def classify_cfa_expression(expr: bytes) -> tuple:
    """The CFA rule of a ``DW_CFA_def_cfa_expression`` block: the patterns compilers emit.

    Recognised: ``DW_OP_bregN off; DW_OP_deref`` (signal frames) and the x86_64 PLT stub
    expression ``breg7 off; breg16 0; lit15; and; litK; ge; lit3; shl; plus``. Anything else is
    ``(CFA_UNSUPPORTED, 0, 0)``: the unwinder stops there and says so (so is a truncated one).
    """
    if expr and 0x70 <= expr[0] <= 0x8F:
        reg = expr[0] - 0x70
        try:
            off, pos = sleb128(expr, 1)
        except _TRUNCATED:
            return (CFA_UNSUPPORTED, 0, 0)
        rest = expr[pos:]
        if rest == b"\x06":
            return (CFA_DEREF, reg, off)
        # breg16 0 (0x80 0x00), lit15 (0x3f), and (0x1a), litK (0x30+K), ge (0x2a), lit3 (0x33),
        # shl (0x24), plus (0x22).
        if (
            len(rest) == 9
            and rest[:4] == b"\x80\x00\x3f\x1a"
            and 0x30 <= rest[4] <= 0x4F
            and rest[5:] == b"\x2a\x33\x24\x22"
        ):
            return (CFA_PLT, reg, off, rest[4] - 0x30)
    return (CFA_UNSUPPORTED, 0, 0)


def classify_register_expression(expr: bytes) -> tuple:
    """The rule of a ``DW_CFA_expression`` block: ``DW_OP_bregN off`` alone is supported."""
    if expr and 0x70 <= expr[0] <= 0x8F:
        try:
            off, pos = sleb128(expr, 1)
        except _TRUNCATED:
            return (R_UNSUPPORTED, 0, 0)
        if pos == len(expr):
            return (R_AT_REG, expr[0] - 0x70, off)
    return (R_UNSUPPORTED, 0, 0)


_UNSUPPORTED_RULE = (R_UNSUPPORTED, 0, 0)


def run_program(
    program: bytes,
    cie: Cie,
    pc: int,
    cfa: tuple,
    regs: dict[int, tuple],
    initial: dict[int, tuple] | None,
    rows: list[tuple[int, tuple, dict[int, tuple]]],
    ptr_size: int = 8,
    keep: frozenset[int] | None = None,
) -> tuple[int, tuple, dict[int, tuple]]:
    """Execute one CFA program from state ``(pc, cfa, regs)``, appending a row whenever the pc
    advances; returns the final state. ``initial`` is the CIE's register state
    (``DW_CFA_restore`` goes back to it; None while running the CIE itself). ``keep``: the
    registers whose rules to track (None: all of them).

    Raises :class:`CfiError` for a malformed program, or one that would copy more register rules
    into its rows than its length justifies (see :data:`MAX_PROGRAM`).
    """
    try:
        return _run_program(program, cie, pc, cfa, regs, initial, rows, ptr_size, keep)
    except _TRUNCATED as e:
        raise CfiError(f"truncated CFA program (CIE {cie.offset:#x}): {e}") from None


def _run_program(
    program: bytes,
    cie: Cie,
    pc: int,
    cfa: tuple,
    regs: dict[int, tuple],
    initial: dict[int, tuple] | None,
    rows: list[tuple[int, tuple, dict[int, tuple]]],
    ptr_size: int,
    keep: frozenset[int] | None,
) -> tuple[int, tuple, dict[int, tuple]]:
    caf = cie.code_align
    daf = cie.data_align
    stack: list[tuple[tuple, dict[int, tuple]]] = []
    pos = 0
    n = len(program)
    if n > MAX_PROGRAM:
        raise CfiError(f"CFA program of {n} bytes (CIE {cie.offset:#x})")
    # Every row and remembered state copies the register rules: bound the copies by the input.
    budget = _COPIES_BASE + _COPIES_PER_BYTE * n
    while pos < n:
        op = program[pos]
        pos += 1
        high = op & 0xC0
        if high == 0x40:  # advance_loc
            budget -= len(regs) + 1
            rows.append((pc, cfa, regs.copy()))
            pc += (op & 0x3F) * caf
            if budget < 0:
                raise CfiError(f"CFA program expands past its budget (CIE {cie.offset:#x})")
            continue
        if high == 0x80:  # offset
            off, pos = uleb128(program, pos)
            if keep is None or op & 0x3F in keep:
                regs[op & 0x3F] = (R_OFFSET, off * daf, 0)
            continue
        if high == 0xC0:  # restore
            _restore(regs, initial, op & 0x3F)
            continue
        if op == 0x00:  # nop
            continue
        reg = -1  # the register whose rule the op sets, if it sets one
        rule = _UNSUPPORTED_RULE
        if op in (0x02, 0x03, 0x04, 0x01):  # advance_loc1/2/4, set_loc
            budget -= len(regs) + 1
            if budget < 0:
                raise CfiError(f"CFA program expands past its budget (CIE {cie.offset:#x})")
            rows.append((pc, cfa, regs.copy()))
            if op == 0x02:
                pc += program[pos] * caf
                pos += 1
            elif op == 0x03:
                pc += _U16(program, pos)[0] * caf
                pos += 2
            elif op == 0x04:
                pc += _U32(program, pos)[0] * caf
                pos += 4
            else:
                # set_loc is absolute; only pc-relative/absolute encodings are meaningful here
                # and compilers do not emit it in practice.
                pc, pos = _read_encoded(program, pos, cie.fde_encoding & 0x0F, 0, ptr_size)
        elif op == 0x0C:  # def_cfa
            creg, pos = uleb128(program, pos)
            off, pos = uleb128(program, pos)
            cfa = (CFA_REG, creg, off)
        elif op == 0x0E:  # def_cfa_offset
            off, pos = uleb128(program, pos)
            cfa = (cfa[0], cfa[1], off) if cfa[0] == CFA_REG else (CFA_UNSUPPORTED, 0, 0)
        elif op == 0x0D:  # def_cfa_register
            creg, pos = uleb128(program, pos)
            cfa = (CFA_REG, creg, cfa[2]) if cfa[0] == CFA_REG else (CFA_UNSUPPORTED, 0, 0)
        elif op == 0x12:  # def_cfa_sf
            creg, pos = uleb128(program, pos)
            off, pos = sleb128(program, pos)
            cfa = (CFA_REG, creg, off * daf)
        elif op == 0x13:  # def_cfa_offset_sf
            off, pos = sleb128(program, pos)
            cfa = (cfa[0], cfa[1], off * daf) if cfa[0] == CFA_REG else (CFA_UNSUPPORTED, 0, 0)
        elif op == 0x0F:  # def_cfa_expression
            length, pos = uleb128(program, pos)
            cfa = classify_cfa_expression(program[pos : pos + length])
            pos += length
        elif op == 0x05:  # offset_extended
            reg, pos = uleb128(program, pos)
            off, pos = uleb128(program, pos)
            rule = (R_OFFSET, off * daf, 0)
        elif op == 0x11:  # offset_extended_sf
            reg, pos = uleb128(program, pos)
            off, pos = sleb128(program, pos)
            rule = (R_OFFSET, off * daf, 0)
        elif op == 0x2F:  # GNU_negative_offset_extended
            reg, pos = uleb128(program, pos)
            off, pos = uleb128(program, pos)
            rule = (R_OFFSET, -off * daf, 0)
        elif op == 0x14:  # val_offset
            reg, pos = uleb128(program, pos)
            off, pos = uleb128(program, pos)
            rule = (R_VAL_OFFSET, off * daf, 0)
        elif op == 0x15:  # val_offset_sf
            reg, pos = uleb128(program, pos)
            off, pos = sleb128(program, pos)
            rule = (R_VAL_OFFSET, off * daf, 0)
        elif op == 0x06:  # restore_extended
            creg, pos = uleb128(program, pos)
            _restore(regs, initial, creg)
        elif op == 0x07:  # undefined
            reg, pos = uleb128(program, pos)
            rule = (R_UNDEFINED, 0, 0)
        elif op == 0x08:  # same_value
            reg, pos = uleb128(program, pos)
            rule = (R_SAME, 0, 0)
        elif op == 0x09:  # register
            reg, pos = uleb128(program, pos)
            reg2, pos = uleb128(program, pos)
            rule = (R_REGISTER, reg2, 0)
        elif op == 0x0A:  # remember_state
            budget -= len(regs) + 1
            if budget < 0 or len(stack) >= MAX_STATE_DEPTH:
                raise CfiError(f"DW_CFA_remember_state nested too deep (CIE {cie.offset:#x})")
            stack.append((cfa, regs.copy()))
        elif op == 0x0B:  # restore_state (the pc stays where it is)
            if not stack:
                raise CfiError(f"DW_CFA_restore_state without remember_state (CIE {cie.offset:#x})")
            cfa, regs = stack.pop()
        elif op == 0x10:  # expression
            reg, pos = uleb128(program, pos)
            length, pos = uleb128(program, pos)
            rule = classify_register_expression(program[pos : pos + length])
            pos += length
        elif op == 0x16:  # val_expression
            reg, pos = uleb128(program, pos)
            length, pos = uleb128(program, pos)
            pos += length
        elif op == 0x2E:  # GNU_args_size: only matters for exception landing pads
            _, pos = uleb128(program, pos)
        elif op == 0x2D:  # GNU_window_save / AARCH64_negate_ra_state: pointer auth of the RA
            pass
        else:
            raise CfiError(f"unknown DW_CFA opcode {op:#x} (CIE {cie.offset:#x})")
        if reg >= 0:
            if reg >= MAX_REGISTER:
                raise CfiError(f"DWARF register {reg} (CIE {cie.offset:#x})")
            if keep is None or reg in keep:
                regs[reg] = rule
    if pos > n:
        raise CfiError(f"CFA program runs past its end (CIE {cie.offset:#x})")
    return pc, cfa, regs


def _restore(regs: dict[int, tuple], initial: dict[int, tuple] | None, reg: int) -> None:
    if initial is not None and reg in initial:
        regs[reg] = initial[reg]
    else:
        regs.pop(reg, None)


@functools.lru_cache(maxsize=1024)
def _cie_state(
    cie: Cie, ptr_size: int, keep: frozenset[int] | None
) -> tuple[tuple, tuple[tuple[int, tuple], ...]] | str:
    """The state a CIE's initial instructions leave (its CFA rule and register rules), or the
    message of the ``CfiError`` they raise: computed once per CIE, not once per FDE, so a CIE
    with a long program shared by many FDEs costs its length once."""
    try:
        _, cfa, regs = run_program(
            cie.initial_instructions, cie, 0, (CFA_UNSUPPORTED, 0, 0), {}, None, [], ptr_size,
            keep,
        )  # fmt: skip
    except CfiError as e:
        return str(e)
    return cfa, tuple(regs.items())


def run_fde(
    fde: Fde, ptr_size: int = 8, keep: frozenset[int] | None = None
) -> list[tuple[int, tuple, dict[int, tuple]]]:
    """Execute the CIE's initial instructions then the FDE's program: the rows of the FDE.

    Each row ``(pc, cfa_rule, register_rules)`` holds from its pc to the next row's pc (the last
    one to ``fde.pc_end``). Rows outside the FDE's range are dropped. ``keep``: the registers
    whose rules to track (None: all). Raises :class:`CfiError` for a malformed program.
    """
    cie = fde.cie
    outcome = _cie_state(cie, ptr_size, keep)
    if isinstance(outcome, str):
        raise CfiError(outcome)
    cfa, initial = outcome
    regs = dict(initial)
    rows: list[tuple[int, tuple, dict[int, tuple]]] = []
    pc, cfa, regs = run_program(
        fde.instructions, cie, fde.pc_begin, cfa, dict(regs), dict(regs), rows, ptr_size, keep
    )
    rows.append((pc, cfa, regs))
    # A program may advance twice without a change, or past the end: keep the last row per pc.
    out: list[tuple[int, tuple, dict[int, tuple]]] = []
    for row in rows:
        if row[0] >= fde.pc_end:
            break
        if out and out[-1][0] == row[0]:
            out[-1] = row
        else:
            out.append(row)
    return out
