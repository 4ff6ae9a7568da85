"""Function symbols of an ELF file as sorted arrays, for nearest-symbol lookup with ``bisect``.

Only what a lookup needs is kept: start addresses, ends, and offsets into the string table (names
are decoded on lookup, so loading a table of 300 000 symbols never builds 300 000 strings).

Symbol tables come from profiled targets: entry sizes are checked, addresses past 2**64 are cut
at 2**64 - 1, names are read up to :data:`MAX_SYMBOL_NAME` bytes, and a table or string table
outside the file raises :class:`~profiler.elf.errors.ElfError` (from ``ElfFile``).
"""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from .file import SHF_EXECINSTR, SHT_DYNSYM, SHT_SYMTAB, ElfFile, Section

STT_NOTYPE = 0
STT_FUNC = 2
STT_GNU_IFUNC = 10
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00

# Which of several symbols at one address names it: global beats weak beats local.
_BINDING_RANK = {STB_GLOBAL: 3, STB_WEAK: 2, STB_LOCAL: 1}
MAX_ADDRESS = (1 << 64) - 1
# Longer names are cut: C++ and Rust names of a few KiB exist, and a name without its NUL must
# not turn every lookup into a copy of the whole string table.
MAX_SYMBOL_NAME = 8192


def _c_string(strtab: bytes, offset: int) -> str:
    """The NUL-terminated name at ``offset`` (at most :data:`MAX_SYMBOL_NAME` bytes)."""
    end = strtab.find(b"\0", offset, offset + MAX_SYMBOL_NAME)
    if end < 0:
        end = min(len(strtab), offset + MAX_SYMBOL_NAME)
    return strtab[offset:end].decode("utf-8", "replace")


class SymbolTable:
    """Function symbols sorted by address.

    ``lookup(vaddr)`` returns ``(name, start)`` for the symbol containing ``vaddr`` (respecting
    ``st_size``: an address past a sized symbol's end and before the next symbol is in no symbol),
    or ``None``. ``source`` says which table it came from (``".symtab"`` or ``".dynsym"``).
    """

    __slots__ = ("_covering", "_ends", "_name_offsets", "_starts", "_strtab", "source")

    def __init__(
        self,
        symbols: list[tuple[int, int, int]],
        strtab: bytes,
        source: str,
    ) -> None:
        """``symbols``: ``(start, end, name offset)`` sorted by start, one per address."""
        self.source = source
        self._strtab = strtab
        self._starts = array("Q", (s[0] for s in symbols))  # OverflowError: the caller's bug
        self._ends = array("Q", (min(s[1], MAX_ADDRESS) for s in symbols))
        self._name_offsets = array("Q", (s[2] for s in symbols))
        # _covering[i]: the index among 0..i whose symbol ends last, so an address past symbol i
        # can still be found inside an enclosing (larger, earlier) symbol.
        covering = array("Q")
        best = 0
        for i, end in enumerate(self._ends):
            if end > self._ends[best]:
                best = i
            covering.append(best)
        self._covering = covering

    def __len__(self) -> int:
        return len(self._starts)

    def name_at(self, index: int) -> str:
        """The name of the ``index``-th symbol (by address)."""
        name = _c_string(self._strtab, self._name_offsets[index])
        # A versioned definition in .symtab reads "name@@VERSION" (or "name@VERSION").
        at = name.find("@", 1)
        return name if at < 0 else name[:at]

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """The ``(name, start address)`` of the function containing ``vaddr``, or ``None``."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return None
        if vaddr >= self._ends[i]:
            i = self._covering[i]
            if vaddr >= self._ends[i]:
                return None
        return self.name_at(i), self._starts[i]

    def symbols(self) -> list[tuple[str, int, int]]:
        """All symbols as ``(name, start, end)``, by address (for tests and tools)."""
        return [(self.name_at(i), self._starts[i], self._ends[i]) for i in range(len(self))]

    @classmethod
    def merged(cls, tables: list[SymbolTable], source: str) -> SymbolTable:
        """One table of several (e.g. ``.dynsym`` and MiniDebugInfo); earlier ones win a tie."""
        strtab = b""
        by_start: dict[int, tuple[int, int, int]] = {}
        for table in tables:
            shift = len(strtab)
            strtab += table._strtab
            for start, end, name_off in zip(
                table._starts, table._ends, table._name_offsets, strict=True
            ):
                by_start.setdefault(start, (start, end, name_off + shift))
        return cls([by_start[k] for k in sorted(by_start)], strtab, source)

    @classmethod
    def from_elf(cls, elf: ElfFile, *, allow_dynsym: bool = True) -> SymbolTable | None:
        """The ``.symtab`` of ``elf``, else (if allowed) its ``.dynsym``; ``None`` if neither."""
        kinds = (SHT_SYMTAB, SHT_DYNSYM) if allow_dynsym else (SHT_SYMTAB,)
        for kind in kinds:
            table = next((s for s in elf.sections if s.type == kind and s.size > 0), None)
            if table is None or not 0 < table.link < len(elf.sections):
                continue
            symbols = _function_symbols(elf, elf.read_section(table), table.entsize)
            if symbols:
                strtab = elf.read_section(elf.sections[table.link])
                return cls(symbols, strtab, table.name)
        return None


@dataclass(frozen=True, slots=True)
class Symbol:
    """One entry of a symbol table (``Elf*_Sym``), its name decoded."""

    name: str
    value: int
    size: int
    type: int  # STT_*
    binding: int  # STB_*
    shndx: int


def _entries(elf: ElfFile, raw: bytes, entsize: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(name offset, info, shndx, value, size)`` of each entry of a symbol table's bytes."""
    if elf.is64:
        fmt, size = "IBBHQQ", 24
    else:
        fmt, size = "IIIBBH", 16
    entsize = entsize or size
    if entsize != size:  # a layout we do not know: read nothing rather than garbage
        return
    raw = raw[: len(raw) - len(raw) % size]
    for entry in struct.iter_unpack(elf.byte_order + fmt, raw):
        if elf.is64:
            name_off, info, _, shndx, value, sym_size = entry
        else:
            name_off, value, sym_size, info, _, shndx = entry
        yield name_off, info, shndx, value, sym_size


def iter_symbols(elf: ElfFile, table: Section) -> Iterator[Symbol]:
    """Every entry of the symbol table section ``table`` (``.symtab`` or ``.dynsym``).

    Raises :class:`~profiler.elf.errors.ElfError` if the table or its string table is not
    inside the file; an entry size we do not know yields nothing.
    """
    raw = elf.read_section(table)
    strtab = b""
    if 0 < table.link < len(elf.sections):
        strtab = elf.read_section(elf.sections[table.link])
    for name_off, info, shndx, value, size in _entries(elf, raw, table.entsize):
        yield Symbol(_c_string(strtab, name_off), value, size, info & 0xF, info >> 4, shndx)


def find_symbols(
    elf: ElfFile, names: tuple[str, ...], *, dynamic_only: bool = False
) -> dict[str, tuple[int, int]]:
    """``name -> (st_value, st_size)`` of the defined symbols among ``names``: ``.dynsym``
    first, then ``.symtab`` (unless ``dynamic_only``); a versioned ``name@VERSION`` counts.

    Only entries whose name offset holds one of ``names`` are looked at (no other name is
    decoded), so finding a few symbols in a table of 100 000 costs one pass of ``struct``.
    Raises :class:`~profiler.elf.errors.ElfError` as :func:`iter_symbols`.
    """
    found: dict[str, tuple[int, int]] = {}
    for kind in (SHT_DYNSYM,) if dynamic_only else (SHT_DYNSYM, SHT_SYMTAB):
        for table in (s for s in elf.sections if s.type == kind and s.size > 0):
            if not 0 < table.link < len(elf.sections):
                continue
            strtab = elf.read_section(elf.sections[table.link])
            wanted: dict[int, str] = {}  # name offset -> name, where a wanted name starts
            for name in names:
                if name in found:
                    continue
                raw = name.encode()
                for end in (b"\0", b"@"):
                    at = strtab.find(raw + end)
                    while at >= 0:
                        wanted[at] = name
                        at = strtab.find(raw + end, at + 1)
            if not wanted:
                continue
            for name_off, _, shndx, value, size in _entries(
                elf, elf.read_section(table), table.entsize
            ):
                name = wanted.get(name_off)
                if name is not None and name not in found and shndx != SHN_UNDEF and value:
                    found[name] = (value, size)
            if len(found) == len(names):
                return found
    return found


def _function_symbols(elf: ElfFile, raw: bytes, entsize: int) -> list[tuple[int, int, int]]:
    """Parse symbol entries; keep defined functions; one per address; give size-0 ones an end."""
    sections = elf.sections
    exec_sections = {i for i, s in enumerate(sections) if s.flags & SHF_EXECINSTR}
    chosen: dict[int, tuple[int, int, int, int]] = {}  # start -> (rank, size, name_off, shndx)
    for name_off, info, shndx, value, sym_size in _entries(elf, raw, entsize):
        sym_type = info & 0xF
        if shndx == SHN_UNDEF or shndx >= SHN_LORESERVE or not name_off or not value:
            continue
        if sym_type in (STT_FUNC, STT_GNU_IFUNC):
            rank = 10
        elif sym_type == STT_NOTYPE and shndx in exec_sections:
            rank = 0  # an assembler label in code: better than nothing, worse than a function
        else:
            continue
        rank += _BINDING_RANK.get(info >> 4, 0) * 2 + (sym_size > 0)
        old = chosen.get(value)
        if old is None or rank > old[0]:
            chosen[value] = (rank, sym_size, name_off, shndx)
    starts = sorted(chosen)
    symbols = []
    for i, start in enumerate(starts):
        _, sym_size, name_off, shndx = chosen[start]
        if sym_size:
            end = start + sym_size
        else:
            # No size: it runs to the next symbol, or to the end of its section.
            end = starts[i + 1] if i + 1 < len(starts) else 0
            if shndx < len(sections):
                sec = sections[shndx]
                section_end = sec.addr + sec.size
                if section_end > start and (end == 0 or section_end < end):
                    end = section_end
            if end <= start:
                end = start + 1
        symbols.append((start, end, name_off))
    return symbols
