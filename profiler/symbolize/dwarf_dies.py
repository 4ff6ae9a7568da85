"""A fast reader of one compile unit's DIEs: only the attributes the inline index needs.

pyelftools decodes every attribute of every DIE through ``construct`` (tens of microseconds per
DIE); a Tokio binary has ~250 000 DIEs. This reader walks the raw ``.debug_info`` bytes with the
unit's abbreviation table (parsed here too), decodes the dozen attributes we use, skips the
others by form, and jumps over uninteresting subtrees with ``DW_AT_sibling`` when present. It
feeds the same callbacks as the pyelftools walk in ``dwarf_units``, which tests compare it with.

The bytes come from profiled targets. Reads past a section's end surface as ``IndexError`` or
``struct.error`` and LEB128 numbers are capped (``dwarf_units`` turns those into ``DwarfError``);
a form this reader does not know raises :class:`UnsupportedForm` (then the pyelftools walk may
try); names are cut at :data:`MAX_NAME` bytes, and the string bytes one binary may decode are
bounded by the size of its sections (:class:`Sections`), so no reference trick can make a small
file decode gigabytes of names.
"""

from __future__ import annotations

import struct
from typing import Any

from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_FORM, ENUM_DW_TAG

from ..elf.leb128 import sleb128 as _sleb
from ..elf.leb128 import uleb128 as _uleb
from .dwarf_errors import DwarfError

MAX_NAME = 8192  # bytes of one name; longer ones are cut


def _names(enum: dict[str, int]) -> dict[int, str]:
    return {code: name for name, code in enum.items() if name != "_default_"}


_TAG_NAMES = _names(ENUM_DW_TAG)
_AT_NAMES = _names(ENUM_DW_AT)
_FORM_NAMES = _names(ENUM_DW_FORM)

# Forms of a fixed size that does not depend on the unit (others are handled one by one).
_FIXED = {
    "DW_FORM_data1": 1, "DW_FORM_ref1": 1, "DW_FORM_flag": 1, "DW_FORM_strx1": 1,
    "DW_FORM_addrx1": 1, "DW_FORM_data2": 2, "DW_FORM_ref2": 2, "DW_FORM_strx2": 2,
    "DW_FORM_addrx2": 2, "DW_FORM_strx3": 3, "DW_FORM_addrx3": 3, "DW_FORM_data4": 4,
    "DW_FORM_ref4": 4, "DW_FORM_strx4": 4, "DW_FORM_addrx4": 4, "DW_FORM_ref_sup4": 4,
    "DW_FORM_data8": 8, "DW_FORM_ref8": 8, "DW_FORM_ref_sig8": 8, "DW_FORM_ref_sup8": 8,
    "DW_FORM_data16": 16, "DW_FORM_flag_present": 0, "DW_FORM_implicit_const": 0,
}  # fmt: skip
_OFFSET_FORMS = frozenset(
    {"DW_FORM_strp", "DW_FORM_line_strp", "DW_FORM_sec_offset", "DW_FORM_strp_sup",
     "DW_FORM_GNU_strp_alt", "DW_FORM_GNU_ref_alt"}
)  # fmt: skip
_ULEB_FORMS = frozenset(
    {"DW_FORM_udata", "DW_FORM_ref_udata", "DW_FORM_strx", "DW_FORM_addrx", "DW_FORM_loclistx",
     "DW_FORM_rnglistx", "DW_FORM_GNU_addr_index", "DW_FORM_GNU_str_index"}
)  # fmt: skip
_BLOCK_FORMS = {"DW_FORM_block1": 1, "DW_FORM_block2": 2, "DW_FORM_block4": 4}
_CU_REFS = frozenset(
    {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"}
)
_ADDRX = frozenset(
    {"DW_FORM_addrx", "DW_FORM_addrx1", "DW_FORM_addrx2", "DW_FORM_addrx3", "DW_FORM_addrx4",
     "DW_FORM_GNU_addr_index"}
)  # fmt: skip
_STRX = frozenset(
    {"DW_FORM_strx", "DW_FORM_strx1", "DW_FORM_strx2", "DW_FORM_strx3", "DW_FORM_strx4",
     "DW_FORM_GNU_str_index"}
)  # fmt: skip
_IMPLICIT_CONST = 0x21

# The attributes the index reads; everything else is skipped.
WANTED = frozenset(
    {"DW_AT_name", "DW_AT_linkage_name", "DW_AT_MIPS_linkage_name", "DW_AT_abstract_origin",
     "DW_AT_specification", "DW_AT_low_pc", "DW_AT_high_pc", "DW_AT_ranges", "DW_AT_call_file",
     "DW_AT_call_line", "DW_AT_sibling"}
)  # fmt: skip
# What the unit's top DIE adds: where its lines, strings, addresses and range lists are.
TOP_WANTED = WANTED | {
    "DW_AT_comp_dir", "DW_AT_stmt_list", "DW_AT_str_offsets_base", "DW_AT_addr_base",
    "DW_AT_GNU_addr_base", "DW_AT_rnglists_base",
}  # fmt: skip


class UnsupportedForm(DwarfError):
    """A DIE uses a form this reader does not decode (the pyelftools walk may know it)."""


# An abbreviation: (tag name, has children, [(attribute name, form name, implicit constant)]).
Abbrev = tuple[str, bool, list[tuple[str, str, Any]]]


def parse_abbrevs(data: bytes | memoryview, offset: int) -> tuple[dict[int, Abbrev], int]:
    """The abbreviation table at ``offset`` of ``.debug_abbrev`` (codes to declarations), and
    the position after it.

    Unknown tag, attribute and form codes keep a ``DW_*_0x..`` name (never wanted; an unknown
    form raises :class:`UnsupportedForm` when a DIE uses it). Raises ``DwarfError`` for an
    offset outside the section; ``IndexError``/``Leb128Error`` for a table cut short.
    """
    if not 0 <= offset < len(data):
        raise DwarfError(f"abbreviation table at {offset:#x} is outside .debug_abbrev")
    table: dict[int, Abbrev] = {}
    pos = offset
    while True:
        code, pos = _uleb(data, pos)
        if code == 0:
            return table, pos
        tag, pos = _uleb(data, pos)
        has_children = data[pos] != 0
        pos += 1
        specs = []
        while True:
            name, pos = _uleb(data, pos)
            form, pos = _uleb(data, pos)
            if name == 0 and form == 0:
                break
            implicit = None
            if form == _IMPLICIT_CONST:
                implicit, pos = _sleb(data, pos)
            specs.append(
                (
                    _AT_NAMES.get(name) or f"DW_AT_{name:#x}",
                    _FORM_NAMES.get(form) or f"DW_FORM_{form:#x}",
                    implicit,
                )
            )
        table.setdefault(code, (_TAG_NAMES.get(tag) or f"DW_TAG_{tag:#x}", has_children, specs))


class Attr:
    """A decoded attribute value and its form (the shape ``dwarf_units`` expects)."""

    __slots__ = ("form", "value")

    def __init__(self, form: str, value: Any) -> None:
        self.form = form
        self.value = value


class Sections:
    """The raw DWARF sections of one binary, shared by the units' readers.

    Views of pyelftools' in-memory copies (``getbuffer``): no second copy of the debug info.
    Holds the per-binary caches (abbreviation tables, decoded strings) and the string budget:
    at most ``8 x`` the size of the sections (plus 4 MiB) of name bytes are decoded in all.
    """

    def __init__(self, dwarf: Any) -> None:
        def raw(section: Any) -> memoryview:
            return section.stream.getbuffer() if section is not None else memoryview(b"")

        self.info = raw(dwarf.debug_info_sec)
        self.abbrev = raw(dwarf.debug_abbrev_sec)
        self.str = raw(dwarf.debug_str_sec)
        self.line = raw(dwarf.debug_line_sec)
        self.line_str = raw(getattr(dwarf, "debug_line_str_sec", None))
        self.str_offsets = raw(getattr(dwarf, "debug_str_offsets_sec", None))
        self.addr = raw(getattr(dwarf, "debug_addr_sec", None))
        self.ranges = raw(dwarf.debug_ranges_sec)
        self.rnglists = raw(getattr(dwarf, "debug_rnglists_sec", None))
        self.little = dwarf.config.little_endian
        self._abbrevs: dict[int, dict[int, Abbrev]] = {}
        # Tables of real binaries do not overlap: each byte is parsed once. Tables made to
        # overlap (every unit pointing a little further into one long table) would be parsed
        # again and again: bounded here.
        self._abbrev_bytes_left = (1 << 16) + 2 * len(self.abbrev)
        # Range lists likewise: shifted by a few bytes, every unit's list runs on to the end of
        # the section (no terminator where one is looked for), units x section in all.
        self._range_bytes_left = (1 << 20) + 4 * (len(self.ranges) + len(self.rnglists))
        self._strings: dict[tuple[int, int], str] = {}
        self.string_budget = (4 << 20) + 8 * (len(self.info) + len(self.str) + len(self.line_str))

    def abbrevs(self, offset: int) -> dict[int, Abbrev]:
        """The abbreviation table at ``offset`` (parsed once per binary)."""
        table = self._abbrevs.get(offset)
        if table is None:
            table, end = parse_abbrevs(self.abbrev, offset)
            self._abbrev_bytes_left -= end - offset
            if self._abbrev_bytes_left < 0:
                raise DwarfError("abbreviation tables overlap: .debug_abbrev read again and again")
            self._abbrevs[offset] = table
        return table

    def charge_ranges(self, size: int) -> None:
        """Count ``size`` bytes of range lists read; raises ``DwarfError`` past the budget."""
        self._range_bytes_left -= size
        if self._range_bytes_left < 0:
            raise DwarfError(
                "range lists overlap: .debug_ranges/.debug_rnglists read again and again"
            )

    def string(self, section: memoryview, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of ``section`` (``str`` or ``line_str``)."""
        key = (id(section), offset)
        text = self._strings.get(key)
        if text is None:
            if not 0 <= offset < len(section):
                raise DwarfError(f"string offset {offset:#x} outside its section")
            piece = bytes(section[offset : offset + MAX_NAME])
            end = piece.find(b"\0")
            text = piece[: end if end >= 0 else len(piece)].decode("utf-8", "replace")
            self.string_budget -= len(piece) if end < 0 else end
            if self.string_budget < 0:
                raise DwarfError("DWARF names exceed what the size of the debug info justifies")
            self._strings[key] = text
        return text


def _nul_at(data: memoryview, pos: int, limit: int) -> int:
    """The offset of the first NUL byte at or after ``pos`` and before ``limit``.

    Raises ``IndexError`` when there is none: an inline string must end inside its unit.
    """
    end, size = pos, 128
    while end < limit:
        piece = bytes(data[end : min(end + size, limit)])
        nul = piece.find(b"\0")
        if nul >= 0:
            return end + nul
        end += len(piece)
        size *= 2
    raise IndexError(f"string at {pos:#x} runs past its unit")


class UnitReader:
    """Decodes one unit's DIEs from raw bytes (see the module docstring).

    ``top`` holds the decoded :data:`TOP_WANTED` attributes of the unit's top DIE.
    """

    def __init__(self, sections: Sections, cu: Any) -> None:
        self.s = sections
        self.cu_offset = cu.cu_offset
        self.first_die = cu.cu_die_offset
        header = cu.header
        self.version = header["version"]
        self.address_size = header["address_size"]
        if self.address_size not in (4, 8):
            raise DwarfError(f"unit at {self.cu_offset:#x}: address size {self.address_size}")
        self.end = min(cu.cu_offset + cu.size, len(sections.info))
        self.offset_size = 8 if cu.structs.dwarf_format == 64 else 4
        order = "<" if sections.little else ">"
        self._addr_fmt = struct.Struct(order + ("Q" if self.address_size == 8 else "I"))
        self._off_fmt = struct.Struct(order + ("Q" if self.offset_size == 8 else "I"))
        self._u16 = struct.Struct(order + "H")
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")
        self.abbrevs = sections.abbrevs(header["debug_abbrev_offset"])
        header_size = 8 if self.offset_size == 4 else 16
        self.str_offsets_base = header_size
        self.addr_base = header_size
        self.rnglists_base = header_size + 4
        # The top DIE: its bases first (undecoded), then its attributes decoded with them.
        code, pos = _uleb(sections.info, self.first_die)
        _, self.top_has_children, specs = self.abbrevs[code]
        raw, self.after_top = self.read_attributes(pos, specs, TOP_WANTED, finish=False)

        def base(*names: str, default: int) -> int:
            for name in names:
                if name in raw and isinstance(raw[name].value, int):
                    return raw[name].value
            return default

        self.str_offsets_base = base("DW_AT_str_offsets_base", default=self.str_offsets_base)
        self.addr_base = base("DW_AT_addr_base", "DW_AT_GNU_addr_base", default=self.addr_base)
        self.rnglists_base = base("DW_AT_rnglists_base", default=self.rnglists_base)
        self.top = {name: self._finish(name, a.form, a.value) for name, a in raw.items()}

    # -- values ------------------------------------------------------------------------------

    def _uint(self, data: bytes, pos: int, size: int) -> int:
        if size == 1:
            return data[pos]
        if size == 2:
            return self._u16.unpack_from(data, pos)[0]
        if size == 4:
            return self._u32.unpack_from(data, pos)[0]
        if size == 8:
            return self._u64.unpack_from(data, pos)[0]
        piece = bytes(data[pos : pos + size])
        if len(piece) != size:
            raise IndexError(f"{size}-byte value at {pos:#x} cut short")
        return int.from_bytes(piece, "little" if self.s.little else "big")

    def address_at(self, index: int) -> int:
        """Entry ``index`` of this unit's ``.debug_addr`` table."""
        at = self.addr_base + index * self.address_size
        if at < 0:
            raise IndexError(f".debug_addr index {index} before the section")
        return self._addr_fmt.unpack_from(self.s.addr, at)[0]

    def _string(self, form: str, value: int) -> str:
        if form == "DW_FORM_strp":
            return self.s.string(self.s.str, value)
        if form == "DW_FORM_line_strp":
            return self.s.string(self.s.line_str, value)
        if form in _STRX:
            at = self.str_offsets_base + value * self.offset_size
            if at < 0:
                raise IndexError(f".debug_str_offsets index {value} before the section")
            return self.s.string(self.s.str, self._off_fmt.unpack_from(self.s.str_offsets, at)[0])
        return ""  # a supplementary file's string: not available

    def read_attributes(
        self,
        pos: int,
        specs: list[tuple[str, str, Any]],
        wanted: frozenset[str] = WANTED,
        finish: bool = True,
    ) -> tuple[dict, int]:
        """Decode the ``wanted`` attributes of the DIE whose attributes start at ``pos``."""
        data = self.s.info
        out: dict[str, Attr] = {}
        for name, form, implicit in specs:
            if form == "DW_FORM_indirect":
                code, pos = _uleb(data, pos)
                form = _FORM_NAMES.get(code) or f"DW_FORM_{code:#x}"
            want = name in wanted
            size = _FIXED.get(form)
            if size is not None:
                if want:
                    if form == "DW_FORM_implicit_const":
                        value = implicit
                    elif form == "DW_FORM_flag_present":
                        value = True
                    else:
                        value = self._uint(data, pos, size)
                    out[name] = self._finish(name, form, value) if finish else Attr(form, value)
                pos += size
            elif form == "DW_FORM_addr":
                if want:
                    out[name] = Attr(form, self._addr_fmt.unpack_from(data, pos)[0])
                pos += self.address_size
            elif form in _OFFSET_FORMS or form == "DW_FORM_ref_addr":
                size = self.offset_size
                if form == "DW_FORM_ref_addr" and self.version == 2:
                    size = self.address_size
                if want:
                    value = self._uint(data, pos, size)
                    out[name] = self._finish(name, form, value) if finish else Attr(form, value)
                pos += size
            elif form in _ULEB_FORMS:
                value, pos = _uleb(data, pos)
                if want:
                    out[name] = self._finish(name, form, value) if finish else Attr(form, value)
            elif form == "DW_FORM_sdata":
                value, pos = _sleb(data, pos)
                if want:
                    out[name] = Attr(form, value)
            elif form == "DW_FORM_string":
                end = _nul_at(data, pos, self.end)
                if want:
                    text = bytes(data[pos : min(end, pos + MAX_NAME)]).decode("utf-8", "replace")
                    out[name] = Attr(form, text)
                pos = end + 1
            elif form in _BLOCK_FORMS:
                length = self._uint(data, pos, _BLOCK_FORMS[form])
                pos += _BLOCK_FORMS[form] + length
            elif form in ("DW_FORM_block", "DW_FORM_exprloc"):
                length, pos = _uleb(data, pos)
                pos += length
            else:
                raise UnsupportedForm(f"unsupported DWARF form {form}")
        return out, pos

    def _finish(self, name: str, form: str, value: Any) -> Attr:
        """Turn indirect forms into what the index wants (strings, addresses, offsets)."""
        if form in _STRX or form in ("DW_FORM_strp", "DW_FORM_line_strp"):
            return Attr(form, self._string(form, value))
        if form in ("DW_FORM_strp_sup", "DW_FORM_GNU_strp_alt"):
            return Attr(form, "")
        if form in _ADDRX:
            return Attr("DW_FORM_addr", self.address_at(value))
        if form == "DW_FORM_rnglistx":
            table = self.rnglists_base + value * self.offset_size
            if table < 0:
                raise IndexError(f"range list index {value} before the section")
            offset = self._off_fmt.unpack_from(self.s.rnglists, table)[0]
            return Attr("DW_FORM_sec_offset", self.rnglists_base + offset)
        return Attr(form, value)

    # -- range lists -------------------------------------------------------------------------

    def range_list(self, offset: int, base: int) -> list[tuple[int, int]]:
        """The ``(low, high)`` ranges of the list at ``offset`` (base addresses applied)."""
        if offset < 0:
            raise IndexError(f"range list at {offset:#x}")
        if self.version >= 5:
            return self._rnglist(offset, base)
        data = self.s.ranges
        size = self.address_size
        top = (1 << (8 * size)) - 1
        out = []
        pos = offset
        while pos + 2 * size <= len(data):
            low = self._uint(data, pos, size)
            high = self._uint(data, pos + size, size)
            pos += 2 * size
            if low == 0 and high == 0:
                break
            if low == top:
                base = high
                continue
            out.append((base + low, base + high))
        self.s.charge_ranges(pos - offset)
        return out

    def _rnglist(self, offset: int, base: int) -> list[tuple[int, int]]:
        data = self.s.rnglists
        size = self.address_size
        out = []
        pos = offset
        while pos < len(data):
            kind = data[pos]
            pos += 1
            if kind == 0:  # DW_RLE_end_of_list
                break
            if kind == 1:  # DW_RLE_base_addressx
                index, pos = _uleb(data, pos)
                base = self.address_at(index)
            elif kind == 2:  # DW_RLE_startx_endx
                start, pos = _uleb(data, pos)
                end, pos = _uleb(data, pos)
                out.append((self.address_at(start), self.address_at(end)))
            elif kind == 3:  # DW_RLE_startx_length
                start, pos = _uleb(data, pos)
                length, pos = _uleb(data, pos)
                low = self.address_at(start)
                out.append((low, low + length))
            elif kind == 4:  # DW_RLE_offset_pair
                start, pos = _uleb(data, pos)
                end, pos = _uleb(data, pos)
                out.append((base + start, base + end))
            elif kind == 5:  # DW_RLE_base_address
                base = self._uint(data, pos, size)
                pos += size
            elif kind == 6:  # DW_RLE_start_end
                low = self._uint(data, pos, size)
                high = self._uint(data, pos + size, size)
                pos += 2 * size
                out.append((low, high))
            elif kind == 7:  # DW_RLE_start_length
                low = self._uint(data, pos, size)
                length, pos = _uleb(data, pos + size)
                out.append((low, low + length))
            else:
                raise DwarfError(f"unknown range list entry kind {kind} at {pos - 1:#x}")
        self.s.charge_ranges(pos - offset)
        return out
