"""One compile unit's DWARF line table as sorted arrays: address -> (file, line) by bisection.

Our own reader of a line program (DWARF 2 to 5: the header with its directory and file tables,
then the opcodes), from the raw ``.debug_line`` bytes; we keep only the rows, as parallel arrays
sorted by address, so a lookup is one ``bisect`` instead of a walk over the program.

The bytes come from profiled targets: every count in the header is checked against the bytes
that hold its entries (a DWARF 5 table of 2**60 empty entries is refused, not built), strings
are capped at :data:`MAX_PATH` bytes, addresses wrap at 64 bits, and anything malformed raises
:class:`~profiler.symbolize.dwarf_errors.DwarfError`.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass

from ..elf.leb128 import sleb128 as _sleb
from ..elf.leb128 import uleb128 as _uleb
from .dwarf_errors import CONVERTED, DwarfError, dwarf_error

# Marks the row that ends a sequence: addresses from there up to the next sequence have no line.
_NO_LINE = -1
_MASK64 = (1 << 64) - 1
MAX_PATH = 4096  # bytes of a directory or file name

# DW_LNCT_* content types and the DW_FORM_* codes a DWARF 5 file table may use.
_LNCT_PATH = 1
_LNCT_DIRECTORY_INDEX = 2
_FORM_SIZES = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4}
_FORM_STRING, _FORM_STRP, _FORM_LINE_STRP, _FORM_UDATA, _FORM_STRX = 0x08, 0x0E, 0x1F, 0x0F, 0x1A
_FORM_BLOCK = {0x09: 0, 0x0A: 1, 0x03: 2, 0x04: 4}  # block (uleb length), block1/2/4


@dataclass(frozen=True, slots=True)
class LineStrings:
    """The sections a line program refers to: its own, and the string sections of its names."""

    line: bytes | memoryview
    str: bytes | memoryview = b""
    line_str: bytes | memoryview = b""
    little: bool = True


def _cstring(data: bytes | memoryview, pos: int, limit: int) -> tuple[str, int]:
    """The NUL-terminated string at ``pos`` (before ``limit``) and the position after its NUL.

    Read in a window that doubles (64 bytes first): the cost is the string's length, however
    many strings a header holds.
    """
    limit = min(limit, pos + MAX_PATH + 1)
    size = 64
    while True:
        window = bytes(data[pos : min(limit, pos + size)])
        end = window.find(b"\0")
        if end >= 0:
            return window[:end].decode("utf-8", "replace"), pos + end + 1
        if pos + size >= limit:
            raise DwarfError(f"line table string at {pos:#x} has no end within {MAX_PATH} bytes")
        size *= 2


def _string_at(data: bytes | memoryview, offset: int) -> str:
    """The string at ``offset`` of a string section (cut at :data:`MAX_PATH` bytes)."""
    if not 0 <= offset < len(data):
        raise DwarfError(f"string offset {offset:#x} outside its section ({len(data)} bytes)")
    piece = bytes(data[offset : offset + MAX_PATH])
    end = piece.find(b"\0")
    return piece[: end if end >= 0 else len(piece)].decode("utf-8", "replace")


class _Header:
    """What the opcodes need from a line program header, and its file names."""

    __slots__ = (
        "arg_counts",
        "budget",
        "directories",
        "end",
        "files",
        "line_base",
        "line_range",
        "min_length",
        "offset_size",
        "opcode_base",
        "order",
        "program",
        "version",
    )

    def __init__(self, s: LineStrings, offset: int) -> None:
        data = s.line
        self.order = order = "<" if s.little else ">"
        u16, u32, u64 = (struct.Struct(order + c).unpack_from for c in "HIQ")
        if not 0 <= offset <= len(data) - 4:
            raise DwarfError(f"no line program at {offset:#x} (.debug_line of {len(data)} bytes)")
        (length,) = u32(data, offset)
        pos = offset + 4
        offset_size = 4
        if length == 0xFFFFFFFF:
            (length,) = u64(data, pos)
            pos += 8
            offset_size = 8
        self.offset_size = offset_size
        self.end = end = pos + length
        if end > len(data):
            raise DwarfError(f"line program at {offset:#x} runs past the end of .debug_line")
        (self.version,) = u16(data, pos)
        pos += 2
        if not 2 <= self.version <= 5:
            raise DwarfError(f"line program at {offset:#x}: version {self.version}")
        if self.version >= 5:
            pos += 2  # address_size, segment_selector_size
        (header_length,) = (u64 if offset_size == 8 else u32)(data, pos)
        pos += offset_size
        self.program = program = pos + header_length
        if program > end:
            raise DwarfError(f"line program at {offset:#x}: header longer than the unit")
        # Names from string sections: a header byte may name up to MAX_PATH bytes, so the bytes
        # decoded are bounded by the header's size (real tables decode < 20 per header byte).
        self.budget = (1 << 20) + 64 * header_length
        self.min_length = data[pos]
        pos += 1
        if self.version >= 4:
            pos += 1  # maximum_operations_per_instruction (VLIW only)
        pos += 1  # default_is_stmt
        self.line_base = struct.unpack_from("b", data, pos)[0]
        self.line_range = data[pos + 1]
        self.opcode_base = data[pos + 2]
        pos += 3
        if not self.line_range or not self.opcode_base:
            raise DwarfError(f"line program at {offset:#x}: line_range or opcode_base is 0")
        self.arg_counts = bytes(data[pos : pos + self.opcode_base - 1])
        pos += self.opcode_base - 1
        if pos > program:
            raise DwarfError(f"line program at {offset:#x}: header fields past its length")
        if self.version >= 5:
            self.directories, pos = self._entries_v5(s, pos, None)
            self.files, pos = self._entries_v5(s, pos, self.directories)
        else:
            self.directories = []
            while True:
                name, pos = _cstring(data, pos, program)
                if not name:
                    break
                self.directories.append(name)
            self.files = []
            while True:
                name, pos = _cstring(data, pos, program)
                if not name:
                    break
                index, pos = _uleb(data, pos)
                _, pos = _uleb(data, pos)  # mtime
                _, pos = _uleb(data, pos)  # length
                self.files.append((name, index))
        if pos > program:
            raise DwarfError(f"line program at {offset:#x}: file table past the header's end")

    def _entries_v5(self, s: LineStrings, pos: int, directories: list | None) -> tuple[list, int]:
        """A DWARF 5 directory (``directories`` None) or file name table."""
        data = s.line
        limit = self.program
        count = data[pos]
        pos += 1
        formats = []
        for _ in range(count):
            content, pos = _uleb(data, pos)
            form, pos = _uleb(data, pos)
            formats.append((content, form))
        entries, pos = _uleb(data, pos)
        # Every entry takes at least one byte per format: a count the header cannot hold is a lie.
        if entries and (not formats or entries > limit - pos):
            raise DwarfError(f"line table claims {entries} entries in {limit - pos} bytes")
        table: list = []
        for _ in range(entries):
            name, index = "", 0
            for content, form in formats:
                value, pos = self._form_value(s, form, pos)
                if content == _LNCT_PATH:
                    name = value if isinstance(value, str) else ""
                elif content == _LNCT_DIRECTORY_INDEX and isinstance(value, int):
                    index = value
            if pos > limit:
                raise DwarfError("line table entries run past the header's end")
            table.append(name if directories is None else (name, index))
        return table, pos

    def _form_value(self, s: LineStrings, form: int, pos: int) -> tuple[str | int | None, int]:
        data = s.line
        if form == _FORM_STRING:
            return _cstring(data, pos, self.program)
        if form in (_FORM_LINE_STRP, _FORM_STRP):
            size = self.offset_size
            (offset,) = struct.unpack_from(self.order + ("Q" if size == 8 else "I"), data, pos)
            section = s.line_str if form == _FORM_LINE_STRP else s.str
            name = _string_at(section, offset)
            self.budget -= len(name)
            if self.budget < 0:
                raise DwarfError("line table names exceed what its header's size justifies")
            return name, pos + size
        if form == _FORM_UDATA:
            return _uleb(data, pos)
        size = _FORM_SIZES.get(form)
        if size is not None:
            if size > 8 or 0x25 <= form <= 0x28:  # data16 (MD5), strx1-4: not needed
                return None, pos + size
            return int.from_bytes(data[pos : pos + size], "little" if s.little else "big"), (
                pos + size
            )
        if form == _FORM_STRX:
            return None, _uleb(data, pos)[1]
        if form in _FORM_BLOCK:
            width = _FORM_BLOCK[form]
            if width:
                length = int.from_bytes(data[pos : pos + width], "little" if s.little else "big")
                return None, pos + width + length
            length, pos = _uleb(data, pos)
            return None, pos + length
        raise DwarfError(f"line table entry form {form:#x} not supported")

    def paths(self, comp_dir: str) -> list[str]:
        """The file names as paths, indexed by the DWARF file number (see :func:`file_table`)."""
        dirs = self.directories
        if self.version < 5:
            dirs = [comp_dir, *dirs]
        paths = [] if self.version >= 5 else [""]
        for name, index in self.files:
            directory = dirs[index] if 0 <= index < len(dirs) else ""
            if directory and not os.path.isabs(directory) and comp_dir:
                directory = os.path.join(comp_dir, directory)
            paths.append(os.path.join(directory, name) if directory else name)
        return paths


# A row: (address, 0 for an end of sequence else 1, order, line or _NO_LINE, file). Sorting
# puts a sequence's end before a sequence starting at the same address, otherwise keeps order.
Row = tuple[int, int, int, int, int]


def _decode_rows(s: LineStrings, h: _Header) -> list[Row]:
    """The line program's rows, decoded from its bytes (the DWARF 2-5 opcodes; not VLIW)."""
    data = s.line
    pos, end = h.program, h.end
    min_length = h.min_length
    line_base, line_range = h.line_base, h.line_range
    opcode_base = h.opcode_base
    arg_counts = h.arg_counts
    const_add = ((255 - opcode_base) // line_range) * min_length
    order = "little" if s.little else "big"
    rows: list[Row] = []
    append = rows.append
    address, file, line = 0, 1, 1
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= opcode_base:  # special opcode: advance address and line, emit a row
            adjusted = op - opcode_base
            address = (address + (adjusted // line_range) * min_length) & _MASK64
            line += line_base + adjusted % line_range
            append((address, 1, len(rows), line, file))
        elif op == 0:  # extended opcode
            length, pos = _uleb(data, pos)
            if pos + length > end:
                raise DwarfError(f"extended opcode at {pos:#x} runs past its line program")
            if length:
                sub = data[pos]
                if sub == 1:  # DW_LNE_end_sequence
                    append((address, 0, len(rows), _NO_LINE, 0))
                    address, file, line = 0, 1, 1
                elif sub == 2:  # DW_LNE_set_address
                    if length > 9:
                        raise DwarfError(f"DW_LNE_set_address of {length - 1} bytes at {pos:#x}")
                    address = int.from_bytes(data[pos + 1 : pos + length], order)
            pos += length
        elif op == 1:  # DW_LNS_copy
            append((address, 1, len(rows), line, file))
        elif op == 2:  # DW_LNS_advance_pc
            delta, pos = _uleb(data, pos)
            address = (address + delta * min_length) & _MASK64
        elif op == 3:  # DW_LNS_advance_line
            delta, pos = _sleb(data, pos)
            line += delta
        elif op == 4:  # DW_LNS_set_file
            file, pos = _uleb(data, pos)
        elif op == 8:  # DW_LNS_const_add_pc
            address = (address + const_add) & _MASK64
        elif op == 9:  # DW_LNS_fixed_advance_pc
            address = (address + int.from_bytes(data[pos : pos + 2], order)) & _MASK64
            pos += 2
        else:  # opcodes without effect on (address, file, line): skip their LEB128 arguments
            for _ in range(arg_counts[op - 1]):
                _, pos = _uleb(data, pos)
    if pos > end:
        raise DwarfError("the last opcode of a line program runs past its end")
    return rows


def _line(value: int) -> int:
    """A row's line for the ``array('i')``: a line number past 2**31 is no line (0)."""
    return value if -1 <= value < 1 << 31 else 0


class LineTable:
    """Rows of one line program, sorted by address (``lookup`` is a bisection)."""

    __slots__ = ("_addresses", "_files", "_lines", "comp_dir", "extent", "files")

    def __init__(
        self, rows: list[Row], files: list[str], extent: int = 0, comp_dir: str = ""
    ) -> None:
        """``rows`` as :func:`_decode_rows` gives them; ``files`` by DWARF file number;
        ``extent``: the bytes of ``.debug_line`` the program spans; ``comp_dir``: the unit's
        compilation directory its file names were joined with."""
        self.files = files
        self.extent = extent
        self.comp_dir = comp_dir
        rows.sort()
        self._addresses = array("Q", (r[0] for r in rows))
        self._lines = array("i", (_line(r[3]) for r in rows))
        self._files = array("I", (min(r[4], 0xFFFFFFFF) for r in rows))

    @classmethod
    def parse(cls, strings: LineStrings, offset: int, comp_dir: str) -> LineTable:
        """The line table of the program at ``offset`` of ``.debug_line`` (``DW_AT_stmt_list``).

        Raises :class:`~profiler.symbolize.dwarf_errors.DwarfError` if it is malformed.
        """
        try:
            header = _Header(strings, offset)
            rows = _decode_rows(strings, header)
            return cls(rows, header.paths(comp_dir), header.end - offset, comp_dir)
        except DwarfError:
            raise
        except CONVERTED as e:
            raise dwarf_error(f"line program at {offset:#x}", e) from None

    def __len__(self) -> int:
        return len(self._addresses)

    def rows(self) -> list[tuple[int, int, int]]:
        """``(address, line, file)`` of every row by address (line -1: a sequence's end)."""
        return list(zip(self._addresses, self._lines, self._files, strict=True))

    def lookup(self, address: int) -> tuple[str, int] | None:
        """The (file path, line) of the row covering ``address``, or ``None`` outside any sequence.

        Line 0 means the compiler gave no line (addr2line prints ``?``).
        """
        i = bisect_right(self._addresses, address) - 1
        if i < 0 or self._lines[i] == _NO_LINE:
            return None
        return self.file_name(self._files[i]), self._lines[i]

    def file_name(self, index: int) -> str:
        """The path of DWARF file number ``index`` ("" when out of range)."""
        files = self.files
        return files[index] if 0 <= index < len(files) else ""
