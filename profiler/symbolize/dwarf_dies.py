"""A fast reader of one compile unit's DIEs: only the attributes the inline index needs.

pyelftools decodes every attribute of every DIE through ``construct`` (tens of microseconds per
DIE); a Tokio binary has ~250 000 DIEs. This reader walks the raw ``.debug_info`` bytes with the
unit's abbreviation table (parsed by pyelftools), decodes the dozen attributes we use, skips the
others by form, and jumps over uninteresting subtrees with ``DW_AT_sibling`` when present. It
feeds the same callbacks as the pyelftools walk in ``dwarf_units``, which tests compare it with.
"""

from __future__ import annotations

import struct
from typing import Any

from ..elf.leb128 import sleb128 as _sleb
from ..elf.leb128 import uleb128 as _uleb

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

# The attributes the index reads; everything else is skipped.
WANTED = frozenset(
    {"DW_AT_name", "DW_AT_linkage_name", "DW_AT_MIPS_linkage_name", "DW_AT_abstract_origin",
     "DW_AT_specification", "DW_AT_low_pc", "DW_AT_high_pc", "DW_AT_ranges", "DW_AT_call_file",
     "DW_AT_call_line", "DW_AT_sibling"}
)  # fmt: skip


def _form_name(code: int) -> str:
    """The name of form ``code`` (for DW_FORM_indirect, which names its form in the data)."""
    from elftools.dwarf.enums import ENUM_DW_FORM

    for name, value in ENUM_DW_FORM.items():
        if value == code:
            return name
    raise ValueError(f"unknown DWARF form code {code:#x}")


class Attr:
    """A decoded attribute value and its form (the shape ``dwarf_units`` expects)."""

    __slots__ = ("form", "value")

    def __init__(self, form: str, value: Any) -> None:
        self.form = form
        self.value = value


class Sections:
    """The raw DWARF sections of one binary, shared by the units' readers.

    Views of pyelftools' in-memory copies (``getbuffer``): no second copy of the debug info.
    """

    def __init__(self, dwarf: Any) -> None:
        def raw(section: Any) -> memoryview:
            return section.stream.getbuffer() if section is not None else memoryview(b"")

        self.info = raw(dwarf.debug_info_sec)
        self.str = raw(dwarf.debug_str_sec)
        self.line_str = raw(getattr(dwarf, "debug_line_str_sec", None))
        self.str_offsets = raw(getattr(dwarf, "debug_str_offsets_sec", None))
        self.addr = raw(getattr(dwarf, "debug_addr_sec", None))
        self.ranges = raw(dwarf.debug_ranges_sec)
        self.rnglists = raw(getattr(dwarf, "debug_rnglists_sec", None))
        self.little = dwarf.config.little_endian


def _nul_at(data: memoryview, pos: int) -> int:
    """The offset of the first NUL byte at or after ``pos`` (``len(data)`` if none)."""
    end, size = pos, 128
    while True:
        piece = bytes(data[end : end + size])
        nul = piece.find(b"\0")
        if nul >= 0:
            return end + nul
        if not piece:
            return end
        end += len(piece)
        size *= 2


def _cstring(data: memoryview, pos: int) -> str:
    """The NUL-terminated UTF-8 string at ``pos``."""
    return bytes(data[pos : _nul_at(data, pos)]).decode("utf-8", "replace")


class UnitReader:
    """Decodes one unit's DIEs from raw bytes (see the module docstring)."""

    def __init__(self, sections: Sections, cu: Any) -> None:
        self.s = sections
        self.cu_offset = cu.cu_offset
        self.end = cu.cu_offset + cu.size
        self.first_die = cu.cu_die_offset
        header = cu.header
        self.version = header["version"]
        self.address_size = header["address_size"]
        self.offset_size = 8 if cu.structs.dwarf_format == 64 else 4
        order = "<" if sections.little else ">"
        self._addr_fmt = struct.Struct(order + ("Q" if self.address_size == 8 else "I"))
        self._off_fmt = struct.Struct(order + ("Q" if self.offset_size == 8 else "I"))
        self._u16 = struct.Struct(order + "H")
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")
        top = cu.get_top_DIE().attributes

        def base(*names: str, default: int) -> int:
            for name in names:
                if name in top:
                    return top[name].value
            return default

        header_size = 8 if self.offset_size == 4 else 16
        self.str_offsets_base = base("DW_AT_str_offsets_base", default=header_size)
        self.addr_base = base("DW_AT_addr_base", "DW_AT_GNU_addr_base", default=header_size)
        self.rnglists_base = base("DW_AT_rnglists_base", default=header_size + 4)
        self.abbrevs: dict[int, tuple[str, bool, list[tuple[str, str, Any]]]] = {}
        for code, decl in cu.get_abbrev_table()._abbrev_map.items():
            specs = [(spec.name, spec.form, spec.get("value")) for spec in decl["attr_spec"]]
            self.abbrevs[code] = (decl["tag"], decl.has_children(), specs)

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
        return int.from_bytes(data[pos : pos + size], "little" if self.s.little else "big")

    def address_at(self, index: int) -> int:
        """Entry ``index`` of this unit's ``.debug_addr`` table."""
        return self._addr_fmt.unpack_from(self.s.addr, self.addr_base + index * self.address_size)[
            0
        ]

    def _string(self, form: str, value: int) -> str:
        if form == "DW_FORM_strp":
            return _cstring(self.s.str, value)
        if form == "DW_FORM_line_strp":
            return _cstring(self.s.line_str, value)
        if form in _STRX:
            at = self.str_offsets_base + value * self.offset_size
            return _cstring(self.s.str, self._off_fmt.unpack_from(self.s.str_offsets, at)[0])
        return ""  # a supplementary file's string: not available

    def read_attributes(self, pos: int, specs: list[tuple[str, str, Any]]) -> tuple[dict, int]:
        """Decode the wanted attributes of the DIE whose attributes start at ``pos``."""
        data = self.s.info
        out: dict[str, Attr] = {}
        for name, form, implicit in specs:
            if form == "DW_FORM_indirect":
                code, pos = _uleb(data, pos)
                form = _form_name(code)
            wanted = name in WANTED
            size = _FIXED.get(form)
            if size is not None:
                if wanted:
                    if form == "DW_FORM_implicit_const":
                        value = implicit
                    elif form == "DW_FORM_flag_present":
                        value = True
                    else:
                        value = self._uint(data, pos, size)
                    out[name] = self._finish(name, form, value)
                pos += size
            elif form == "DW_FORM_addr":
                if wanted:
                    out[name] = Attr(form, self._addr_fmt.unpack_from(data, pos)[0])
                pos += self.address_size
            elif form in _OFFSET_FORMS or form == "DW_FORM_ref_addr":
                size = self.offset_size
                if form == "DW_FORM_ref_addr" and self.version == 2:
                    size = self.address_size
                if wanted:
                    out[name] = self._finish(name, form, self._uint(data, pos, size))
                pos += size
            elif form in _ULEB_FORMS:
                value, pos = _uleb(data, pos)
                if wanted:
                    out[name] = self._finish(name, form, value)
            elif form == "DW_FORM_sdata":
                value, pos = _sleb(data, pos)
                if wanted:
                    out[name] = Attr(form, value)
            elif form == "DW_FORM_string":
                end = _nul_at(data, pos)
                if wanted:
                    out[name] = Attr(form, bytes(data[pos:end]).decode("utf-8", "replace"))
                pos = end + 1
            elif form in _BLOCK_FORMS:
                length = self._uint(data, pos, _BLOCK_FORMS[form])
                pos += _BLOCK_FORMS[form] + length
            elif form in ("DW_FORM_block", "DW_FORM_exprloc"):
                length, pos = _uleb(data, pos)
                pos += length
            else:
                raise ValueError(f"unsupported DWARF form {form}")
        return out, pos

    def _finish(self, name: str, form: str, value: int) -> Attr:
        """Turn indirect forms into what the index wants (strings, addresses, offsets)."""
        if form in _STRX or form in ("DW_FORM_strp", "DW_FORM_line_strp"):
            return Attr(form, self._string(form, value))
        if form in ("DW_FORM_strp_sup", "DW_FORM_GNU_strp_alt"):
            return Attr(form, "")
        if form in _ADDRX:
            return Attr("DW_FORM_addr", self.address_at(value))
        if form == "DW_FORM_rnglistx":
            table = self.rnglists_base + value * self.offset_size
            offset = self._off_fmt.unpack_from(self.s.rnglists, table)[0]
            return Attr("DW_FORM_sec_offset", self.rnglists_base + offset)
        return Attr(form, value)

    # -- range lists -------------------------------------------------------------------------

    def range_list(self, offset: int, base: int) -> list[tuple[int, int]]:
        """The ``(low, high)`` ranges of the list at ``offset`` (base addresses applied)."""
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
                raise ValueError(f"unknown range list entry kind {kind} at {pos - 1:#x}")
        return out
