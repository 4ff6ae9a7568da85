"""DWARF source lookups: an address -> its inlined call chain with file:line (``addr2line -i``).

``DwarfInfo.for_elf(path)`` reads a binary's DWARF sections once and indexes them lazily: the
compile unit covering an address is found through ``.debug_aranges`` (or the units' own ranges),
and a unit is walked once, the first time one of its addresses is asked for, into sorted
function ranges, inlined-call trees and a sorted line table. Results are memoised per address
and ``DwarfInfo`` objects are cached by GNU build id, so a profiler pays each cost once.

Function names are the ``DW_AT_linkage_name`` when there is one (mangled; demangle with
``profiler.demangle.demangle``), else the name qualified by its namespaces and types, as
``SourceFrame.qualified_name`` always is (``tokio_app::compute::{async_fn#0}``).

The DWARF of a profiled binary is untrusted: the sections are read with the ELF layer (bounded
by the file's size, compressed ones inflated within limits), our own readers decode the DIEs,
abbreviations and line programs with bounds, and pyelftools (unit headers, address ranges) has
its exceptions converted at this boundary. :meth:`DwarfInfo.for_elf`, :meth:`DwarfInfo.frames`,
:meth:`DwarfInfo.function_name` and :meth:`DwarfInfo.build_index` raise only
:class:`~profiler.symbolize.dwarf_errors.DwarfError` for bad DWARF (and ``ElfError`` or
``OSError`` for a bad or unreadable file): all ``FormatError`` or ``OSError``.
"""

from __future__ import annotations

import io
import os
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..elf.compressed import section_data
from ..elf.errors import ElfError
from ..elf.file import ET_REL, SHT_NOBITS, ElfFile
from .dwarf_dies import Sections, UnsupportedForm
from .dwarf_errors import CONVERTED, DwarfError, dwarf_error
from .dwarf_lines import LineStrings, LineTable
from .dwarf_units import CompileUnitIndex, DieName, unit_code_ranges

# How many binaries' DWARF indexes to keep, and how many addresses' answers per binary.
_MAX_BINARIES = 32
_MAX_MEMO = 1 << 16
# Reference chains (abstract origin -> specification -> ...) longer than this are malformed.
_MAX_REF_HOPS = 8
# Compile units of one binary (Chromium-sized binaries have ~50 000).
MAX_UNITS = 1 << 18
_MAX_QUALIFIED_NAME = 8192
# The DWARF sections we read, by the keyword DWARFInfo takes them as.
_DWARF_SECTIONS = {
    "debug_info_sec": ".debug_info",
    "debug_aranges_sec": ".debug_aranges",
    "debug_abbrev_sec": ".debug_abbrev",
    "debug_str_sec": ".debug_str",
    "debug_line_sec": ".debug_line",
    "debug_ranges_sec": ".debug_ranges",
    "debug_addr_sec": ".debug_addr",
    "debug_str_offsets_sec": ".debug_str_offsets",
    "debug_line_str_sec": ".debug_line_str",
    "debug_rnglists_sec": ".debug_rnglists",
}
_UNUSED_SECTIONS = (
    "debug_frame_sec", "eh_frame_sec", "debug_loc_sec", "debug_pubtypes_sec",
    "debug_pubnames_sec", "debug_loclists_sec", "debug_sup_sec", "gnu_debugaltlink_sec",
    "debug_types_sec",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourceFrame:
    """One frame of an address's inline chain.

    ``function`` is the linkage (mangled) name when DWARF has one, else ``qualified_name``;
    ``file``/``line`` locate the address inside that function (line 0: no line recorded);
    ``inlined`` is true for a call the compiler inlined into the next frame of the list.
    """

    function: str
    file: str
    line: int
    inlined: bool
    qualified_name: str = ""


class DwarfInfo:
    """Lazy, cached DWARF index of one binary; build with :meth:`for_elf`.

    Raises :class:`~profiler.symbolize.dwarf_errors.DwarfError` for malformed DWARF (see the
    module docstring).
    """

    def __init__(self, dwarf: Any, key: str = "") -> None:
        self.key = key
        self._dwarf = dwarf
        try:
            self._range_lists = dwarf.range_lists()
            self._aranges = dwarf.get_aranges()
            self._cus: dict[int, Any] = {}
            for cu in dwarf.iter_CUs():
                if len(self._cus) >= MAX_UNITS:
                    raise DwarfError(f"more than {MAX_UNITS} compile units")
                self._cus[cu.cu_offset] = cu
            self._sections = Sections(dwarf)
        except DwarfError:
            raise
        except CONVERTED as e:
            raise dwarf_error("reading DWARF unit headers", e) from None
        self._units: dict[int, CompileUnitIndex] = {}
        self._lines: dict[int, LineTable | None] = {}
        self._line_programs: dict[int, LineTable] = {}  # by .debug_line offset
        # Line programs of real binaries do not overlap, so decoding each once reads
        # .debug_line once; programs made to overlap would read it again and again.
        self._line_bytes_left = (1 << 20) + 2 * len(self._sections.line)
        self._cu_offsets = sorted(self._cus)
        self._unit_ranges: tuple[list[int], list[tuple[int, int, int]]] | None = None
        self._names: dict[int, tuple[str, str]] = {}
        self._memo: OrderedDict[int, tuple[SourceFrame, ...]] = OrderedDict()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def for_elf(cls, elf: Any) -> DwarfInfo | None:
        """The DWARF index of ``elf``, or ``None`` when it has no ``.debug_info``/``.debug_line``.

        ``elf`` is a path, an open ``profiler.elf.file.ElfFile`` (read, not closed), any object
        with a ``name`` path, or a pyelftools ``ELFFile`` (trusted input only: tests and tools;
        relocatable objects need it). Indexes are cached by GNU build id (else by path, inode
        and mtime), so asking twice for the same binary is free. Raises ``DwarfError``,
        ``ElfError`` or ``OSError``.
        """
        if hasattr(elf, "get_dwarf_info"):
            key = _build_id_of(elf)
            if not key:  # nothing identifies the file: do not cache it
                return cls._from_elffile(elf, "")
            if key not in _CACHE:
                _remember(key, cls._from_elffile(elf, key))
            return _CACHE[key]
        if isinstance(elf, ElfFile):
            return cls._cached(elf, elf.build_id)
        path = os.fspath(elf if isinstance(elf, str | os.PathLike) else elf.name)
        key = getattr(elf, "build_id", "") or ""
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        # Every DWARF section is copied into memory, so the file is closed at once.
        with ElfFile.open(path) as opened:
            return cls._cached(opened, key or opened.build_id or _file_key(opened))

    @classmethod
    def _cached(cls, elf: ElfFile, key: str) -> DwarfInfo | None:
        key = key or _file_key(elf)
        if not key:  # nothing identifies it (an image in memory): do not cache it
            return cls._from_elf(elf, "")
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        info = cls._from_elf(elf, key)
        _remember(key, info)
        return info

    @classmethod
    def _from_elf(cls, elf: ElfFile, key: str) -> DwarfInfo | None:
        """Build from our bounded reads of ``elf``'s DWARF sections (``None``: no DWARF)."""
        if elf.type == ET_REL:
            raise DwarfError(f"{elf.name}: relocatable object (its DWARF needs relocating)")
        sections = {}
        for name in _DWARF_SECTIONS.values():
            section = elf.section(name) or elf.section(".z" + name[1:])
            # A stripped binary's debug sections may be present but empty (SHT_NOBITS).
            if section is not None and section.type != SHT_NOBITS and section.size:
                sections[name] = section_data(elf, section)
        return cls.from_sections(sections, elf.little_endian, 8 if elf.is64 else 4, key)

    @classmethod
    def from_sections(
        cls, sections: dict[str, bytes], little_endian: bool, address_size: int, key: str = ""
    ) -> DwarfInfo | None:
        """An index of DWARF given as section bytes by name (``".debug_info"``...), uncached.

        ``None`` without ``.debug_info``; raises ``DwarfError`` if the unit headers are bad.
        """
        from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

        if not sections.get(".debug_info"):
            return None
        descriptors: dict[str, Any] = dict.fromkeys(_UNUSED_SECTIONS)
        for keyword, name in _DWARF_SECTIONS.items():
            data = sections.get(name)
            descriptors[keyword] = (
                DebugSectionDescriptor(io.BytesIO(data), name, 0, len(data), 0) if data else None
            )
        config = DwarfConfig(
            little_endian=little_endian, machine_arch="", default_address_size=address_size
        )
        try:
            dwarf = DWARFInfo(config, **descriptors)
        except CONVERTED as e:
            raise dwarf_error("DWARF sections", e) from None
        return cls(dwarf, key)

    @classmethod
    def _from_elffile(cls, elffile: Any, key: str) -> DwarfInfo | None:
        try:
            section = elffile.get_section_by_name(".debug_info") or elffile.get_section_by_name(
                ".zdebug_info"
            )
            # A stripped binary's debug sections may be present but empty (SHT_NOBITS).
            if section is None or section.header.sh_type == "SHT_NOBITS" or not section.data_size:
                return None
            # Executables and shared objects need no relocation of their DWARF; objects do.
            relocate = elffile.header.e_type == "ET_REL"
            dwarf = elffile.get_dwarf_info(relocate_dwarf_sections=relocate)
        except CONVERTED as e:
            raise dwarf_error(f"{getattr(elffile.stream, 'name', '<ELFFile>')}", e) from None
        return cls(dwarf, key)

    # -- lookups -----------------------------------------------------------------------------

    def frames(self, vaddr: int) -> list[SourceFrame]:
        """The source frames at ELF virtual address ``vaddr``, innermost first (empty if none).

        The last frame is the concrete function with the file:line of ``vaddr`` inside it unless
        code was inlined there: then each inlined frame carries the file:line within the inlined
        body, and its call site is the line of the frame after it.
        """
        memo = self._memo
        hit = memo.get(vaddr)
        if hit is None:
            try:
                hit = tuple(self._lookup(vaddr))
            except DwarfError:
                raise
            except CONVERTED as e:
                raise dwarf_error(f"DWARF at {vaddr:#x}", e) from None
            memo[vaddr] = hit
            if len(memo) > _MAX_MEMO:
                memo.popitem(last=False)
        return list(hit)

    def close(self) -> None:
        """Drop this binary from the module cache (the object itself stays usable)."""
        if _CACHE.get(self.key) is self:
            del _CACHE[self.key]

    def clear_memo(self) -> None:
        """Forget the memoised answers (the indexes stay)."""
        self._memo.clear()

    def _lookup(self, vaddr: int) -> list[SourceFrame]:
        cu_offset = self._unit_at(vaddr)
        if cu_offset is None:
            return []
        unit = self._unit(cu_offset)
        lines = self._line_table(cu_offset)
        row = lines.lookup(vaddr) if lines is not None else None
        file, line = row if row is not None else ("", 0)
        chain = unit.inline_chain(vaddr)
        if not chain:
            return [SourceFrame("", file, line, False)] if row is not None else []
        frames = []
        for depth in range(len(chain) - 1, -1, -1):
            node = chain[depth]
            function, qualified = self.function_name(node.origin)
            frames.append(SourceFrame(function, file, line, depth > 0, qualified))
            if depth > 0:
                file = lines.file_name(node.call_file) if lines is not None else ""
                line = node.call_line
        return frames

    def function_name(self, die_offset: int) -> tuple[str, str]:
        """(linkage-or-qualified name, qualified name) of the subprogram DIE at ``die_offset``.

        Follows ``DW_AT_abstract_origin`` and ``DW_AT_specification``, across units if needed
        (at most a few hops: a cycle of references ends there).
        """
        cached = self._names.get(die_offset)
        if cached is not None:
            return cached
        try:
            result = self._function_name(die_offset)
        except DwarfError:
            raise
        except CONVERTED as e:
            raise dwarf_error(f"name of the DIE at {die_offset:#x}", e) from None
        self._names[die_offset] = result
        return result

    def _function_name(self, die_offset: int) -> tuple[str, str]:
        linkage = qualified = ""
        offset = die_offset
        for _ in range(_MAX_REF_HOPS):
            entry = self._die_name(offset)
            if entry is None:
                break
            linkage = linkage or entry.linkage
            if not qualified and entry.name:
                qualified = "::".join((*entry.scope, entry.name))[:_MAX_QUALIFIED_NAME]
            if (linkage and qualified) or entry.ref < 0:
                break
            offset = entry.ref
        return (linkage or qualified, qualified)

    def _die_name(self, offset: int) -> DieName | None:
        i = bisect_right(self._cu_offsets, offset) - 1
        if i < 0:
            return None
        return self._unit(self._cu_offsets[i]).names.get(offset)

    # -- indexes -----------------------------------------------------------------------------

    def build_index(self) -> int:
        """Index every compile unit now instead of lazily; returns the number of DIEs walked."""
        try:
            for offset in self._cu_offsets:
                self._unit(offset)
                self._line_table(offset)
        except DwarfError:
            raise
        except CONVERTED as e:
            raise dwarf_error("indexing DWARF", e) from None
        return sum(unit.die_count for unit in self._units.values())

    def _unit(self, cu_offset: int) -> CompileUnitIndex:
        unit = self._units.get(cu_offset)
        if unit is None:
            cu = self._cus[cu_offset]
            try:
                unit = CompileUnitIndex(cu, self._range_lists, self._sections)
            except UnsupportedForm:
                # A form the fast reader does not know: pyelftools may know more.
                unit = CompileUnitIndex(cu, self._range_lists)
            self._units[cu_offset] = unit
        return unit

    def _line_table(self, cu_offset: int) -> LineTable | None:
        if cu_offset in self._lines:
            return self._lines[cu_offset]
        unit = self._unit(cu_offset)
        table = None
        if unit.stmt_list is not None:
            table = self._line_programs.get(unit.stmt_list)
            if table is None or table.comp_dir != unit.comp_dir:
                s = self._sections
                strings = LineStrings(s.line, s.str, s.line_str, s.little)
                table = LineTable.parse(strings, unit.stmt_list, unit.comp_dir)
                self._line_bytes_left -= table.extent
                if self._line_bytes_left < 0:
                    raise DwarfError("line programs overlap: .debug_line decoded again and again")
                self._line_programs[unit.stmt_list] = table
        self._lines[cu_offset] = table
        return table

    def _unit_at(self, vaddr: int) -> int | None:
        """The offset of the compile unit whose code covers ``vaddr``."""
        if self._aranges is not None:
            offset = self._aranges.cu_offset_at_addr(vaddr)
            if offset is not None and offset in self._cus:
                return offset
        lows, ranges = self._ranges_of_units()
        i = bisect_right(lows, vaddr) - 1
        for j in range(i, max(i - 64, -1), -1):
            low, high, offset = ranges[j]
            if low <= vaddr < high:
                return offset
        return None

    def _ranges_of_units(self) -> tuple[list[int], list[tuple[int, int, int]]]:
        """Every unit's address ranges from its top DIE (when .debug_aranges is missing)."""
        if self._unit_ranges is None:
            ranges: list[tuple[int, int, int]] = []
            for offset, cu in self._cus.items():
                try:
                    spans = unit_code_ranges(cu, self._sections)
                except UnsupportedForm:
                    continue  # found through its DIEs' own ranges instead, if at all
                ranges.extend((low, high, offset) for low, high in spans)
            ranges.sort()
            self._unit_ranges = ([r[0] for r in ranges], ranges)
        return self._unit_ranges


_CACHE: OrderedDict[str, DwarfInfo | None] = OrderedDict()


def _remember(key: str, info: DwarfInfo | None) -> None:
    _CACHE[key] = info
    _CACHE.move_to_end(key)
    while len(_CACHE) > _MAX_BINARIES:
        _CACHE.popitem(last=False)


def clear_cache() -> None:
    """Forget every cached binary index (tests, or to release memory)."""
    _CACHE.clear()


def _file_key(elf: ElfFile) -> str:
    """A cache key for a file without a build id: its identity and version on disk ("" for an
    image in memory)."""
    identity = elf.identity()
    return "file:{}:{}:{}:{}".format(*identity) if identity is not None else ""


def _build_id_of(elffile: Any) -> str:
    """The GNU build id of a pyelftools ``ELFFile`` as hex, or "" (read by our ELF layer from
    the same stream: one build-id reader)."""
    stream = elffile.stream
    stream.seek(0)
    try:
        return ElfFile.from_bytes(stream.read(), "<ELFFile>").build_id
    except ElfError:
        return ""
