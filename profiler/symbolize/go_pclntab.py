"""Function names of Go binaries from ``.gopclntab``, which Go keeps even when stripped (``-s -w``).

Go's runtime needs its pc-line table to walk stacks, so a stripped Go binary (most Go programs in
containers) still carries every function's entry address and name. The layout read here is Go
1.18 and later (``runtime/symtab.go``): a ``pcHeader`` (magic ``0xfffffff0`` for 1.18–1.19,
``0xfffffff1`` from 1.20), then a function table of ``{entryoff, funcoff}`` uint32 pairs relative
to ``textStart``, whose last entry is the end of the text; each ``_func`` record starts with
``entryoff`` and ``nameoff`` (into ``funcnametab``).

A table from a profiled binary is checked before it is used: offsets and counts must fit the
section, addresses must fit 64 bits; a table that says it is Go's but is not consistent raises
:class:`PclntabError` (reading the section may raise ``ElfError``).
"""

from __future__ import annotations

import struct
import sys
from array import array

from ..elf.errors import FormatError
from ..elf.file import ElfFile
from ..elf.symbols import SymbolTable

GO_118_MAGIC = 0xFFFFFFF0
GO_120_MAGIC = 0xFFFFFFF1
_MAGICS = (GO_118_MAGIC, GO_120_MAGIC)
_MAX_ADDRESS = (1 << 64) - 1


class PclntabError(FormatError):
    """A ``.gopclntab`` with Go's magic whose header or function table is inconsistent."""


def go_symbol_table(elf: ElfFile) -> SymbolTable | None:
    """The functions named by ``elf``'s Go pc-line table, or ``None`` (not Go, or an old Go).

    Raises :class:`PclntabError` for a malformed table, ``ElfError`` if its section is not in
    the file.
    """
    # Non-PIE binaries have .gopclntab; PIE ones put it in .data.rel.ro.gopclntab.
    section = next((s for s in elf.sections if s.name.endswith(".gopclntab") and s.size), None)
    if section is None:
        return None
    data = elf.read_section(section)
    if len(data) < 8:
        return None
    bo = elf.byte_order
    magic, pad1, pad2, min_lc, ptr_size = struct.unpack_from(bo + "IBBBB", data, 0)
    if magic not in _MAGICS or pad1 or pad2 or min_lc not in (1, 2, 4) or ptr_size not in (4, 8):
        return None
    word = "Q" if ptr_size == 8 else "I"
    if len(data) < 8 + 8 * ptr_size:
        raise PclntabError(f"{elf.name}: .gopclntab of {len(data)} bytes: truncated header")
    header = struct.unpack_from(bo + word * 8, data, 8)
    nfunc, _nfiles, text_start, funcname_off, cu_off, _filetab, _pctab, pcln_off = header
    if not text_start:
        # A PIE binary's header is filled by a dynamic relocation: the file holds 0. textStart
        # is runtime.text, the start of .text.
        text = elf.section(".text")
        text_start = text.addr if text is not None else 0
    if not (0 < funcname_off <= cu_off <= len(data)) or pcln_off + 8 * (nfunc + 1) > len(data):
        raise PclntabError(f"{elf.name}: .gopclntab header offsets outside its {len(data)} bytes")
    if text_start + 0xFFFFFFFF > _MAX_ADDRESS:
        raise PclntabError(f"{elf.name}: .gopclntab text start {text_start:#x}")
    names = data[funcname_off:cu_off]
    table = array("I")
    table.frombytes(data[pcln_off : pcln_off + 8 * (nfunc + 1)])
    if (bo == "<") != (sys.byteorder == "little"):
        table.byteswap()
    symbols = []
    for i in range(nfunc):
        entry, func_off = table[2 * i], table[2 * i + 1]
        end = table[2 * i + 2]
        name_at = pcln_off + func_off + 4
        if name_at + 4 > len(data) or end <= entry:
            continue
        (name_off,) = struct.unpack_from(bo + "i", data, name_at)
        if 0 <= name_off < len(names):
            symbols.append((text_start + entry, text_start + end, name_off))
    if not symbols:
        return None
    symbols.sort()
    return SymbolTable(symbols, names, ".gopclntab")
