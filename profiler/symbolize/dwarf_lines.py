"""One compile unit's DWARF line table as sorted arrays: address -> (file, line) by bisection.

pyelftools decodes the line program (DWARF 2 to 5); we keep only the rows, as parallel arrays
sorted by address, so a lookup is one ``bisect`` instead of a walk over the program.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_right
from typing import Any

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


class LineTable:
    """Rows of one line program, sorted by address (``lookup`` is a bisection)."""

    __slots__ = ("_addresses", "_files", "_lines", "files")

    def __init__(self, program: Any, comp_dir: str) -> None:
        self.files = file_table(program, comp_dir)
        rows: list[tuple[int, int, int, int, int]] = []
        order = 0
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            order += 1
            if state.end_sequence:
                # Sorts before a row that starts another sequence at the same address.
                rows.append((state.address, 0, order, _NO_LINE, 0))
            else:
                rows.append((state.address, 1, order, state.line, state.file))
        rows.sort()
        self._addresses = array("Q", (r[0] for r in rows))
        self._lines = array("q", (r[3] for r in rows))
        self._files = array("l", (r[4] for r in rows))

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
