"""One compile unit's DWARF line table as sorted arrays: address -> (file, line) by bisection.

pyelftools decodes the line program (DWARF 2 to 5); we keep only the rows, as parallel arrays
sorted by address, so a lookup is one ``bisect`` instead of a walk over the program.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_right
from typing import Any

from ..elf.leb128 import sleb128 as _sleb
from ..elf.leb128 import uleb128 as _uleb

# Marks the row that ends a sequence: addresses from there up to the next sequence have no line.
_NO_LINE = -1


def _text(value: Any) -> str:
    """A DWARF string (pyelftools gives bytes) as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


def file_table(program: Any, comp_dir: str) -> list[str]:
    """The line program's file names as paths, indexed by the DWARF file number.

    DWARF 5 numbers files and directories from 0 (entry 0 is the primary file, directory 0 the
    compilation directory); DWARF 2-4 number files from 1 and directory 0 means the compilation
    directory. ``DW_AT_call_file`` uses the same numbering, so this table serves both.
    """
    header = program.header
    version = header["version"]
    dirs = [_text(d) for d in header.get("include_directory", ())]
    if version < 5:
        dirs = [comp_dir, *dirs]
    paths = [] if version >= 5 else [""]
    for entry in header.get("file_entry", ()):
        name = _text(entry.name)
        index = entry.dir_index
        directory = dirs[index] if 0 <= index < len(dirs) else ""
        if directory and not os.path.isabs(directory) and comp_dir:
            directory = os.path.join(comp_dir, directory)
        paths.append(os.path.join(directory, name) if directory else name)
    return paths


# A row: (address, 0 for an end of sequence else 1, order, line or _NO_LINE, file). Sorting
# puts a sequence's end before a sequence starting at the same address, otherwise keeps order.
Row = tuple[int, int, int, int, int]


def _decode_rows(program: Any) -> list[Row]:
    """The line program's rows, decoded from its bytes (the DWARF 2-5 opcodes; not VLIW)."""
    header = program.header
    data = program.stream.getbuffer()  # a view: no copy of the whole section per unit
    pos, end = program.program_start_offset, program.program_end_offset
    min_length = header["minimum_instruction_length"]
    line_base, line_range = header["line_base"], header["line_range"]
    opcode_base = header["opcode_base"]
    arg_counts = header["standard_opcode_lengths"]
    const_add = ((255 - opcode_base) // line_range) * min_length
    order = "little" if program.structs.little_endian else "big"
    rows: list[Row] = []
    append = rows.append
    address, file, line = 0, 1, 1
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= opcode_base:  # special opcode: advance address and line, emit a row
            adjusted = op - opcode_base
            address += (adjusted // line_range) * min_length
            line += line_base + adjusted % line_range
            append((address, 1, len(rows), line, file))
        elif op == 0:  # extended opcode
            length, pos = _uleb(data, pos)
            sub = data[pos]
            if sub == 1:  # DW_LNE_end_sequence
                append((address, 0, len(rows), _NO_LINE, 0))
                address, file, line = 0, 1, 1
            elif sub == 2:  # DW_LNE_set_address
                address = int.from_bytes(data[pos + 1 : pos + length], order)
            pos += length
        elif op == 1:  # DW_LNS_copy
            append((address, 1, len(rows), line, file))
        elif op == 2:  # DW_LNS_advance_pc
            delta, pos = _uleb(data, pos)
            address += delta * min_length
        elif op == 3:  # DW_LNS_advance_line
            delta, pos = _sleb(data, pos)
            line += delta
        elif op == 4:  # DW_LNS_set_file
            file, pos = _uleb(data, pos)
        elif op == 8:  # DW_LNS_const_add_pc
            address += const_add
        elif op == 9:  # DW_LNS_fixed_advance_pc
            address += int.from_bytes(data[pos : pos + 2], order)
            pos += 2
        else:  # opcodes without effect on (address, file, line): skip their LEB128 arguments
            for _ in range(arg_counts[op - 1]):
                _, pos = _uleb(data, pos)
    return rows


def _rows_from_pyelftools(program: Any) -> list[Row]:
    rows: list[Row] = []
    for entry in program.get_entries():
        state = entry.state
        if state is None:
            continue
        if state.end_sequence:
            rows.append((state.address, 0, len(rows), _NO_LINE, 0))
        else:
            rows.append((state.address, 1, len(rows), state.line, state.file))
    return rows


class LineTable:
    """Rows of one line program, sorted by address (``lookup`` is a bisection)."""

    __slots__ = ("_addresses", "_files", "_lines", "files")

    def __init__(self, program: Any, comp_dir: str) -> None:
        self.files = file_table(program, comp_dir)
        try:
            rows = _decode_rows(program)
        except (IndexError, KeyError, ValueError, struct.error):
            rows = _rows_from_pyelftools(program)  # an opcode layout our decoder does not know
        rows.sort()
        self._addresses = array("Q", (r[0] for r in rows))
        self._lines = array("i", (r[3] for r in rows))
        self._files = array("I", (r[4] for r in rows))

    def __len__(self) -> int:
        return len(self._addresses)

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
