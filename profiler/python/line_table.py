"""CPython 3.11+ location tables (``co_linetable``): instruction offset -> line number.

The format (``Objects/locations.md`` in CPython, 3.11 and later): a sequence of entries, each
covering 1-8 code units (2 bytes each). The first byte of an entry has its top bit set; bits 3-6
are the code, bits 0-2 the length minus one. Codes 0-9 (short form) and 10-12 (one-line form:
line delta ``code - 10``) carry column bytes; 13 has a signed varint line delta and no columns;
14 (long form) a signed varint line delta then end-line delta, column and end column varints;
15 means no location. Varints are little-endian groups of 6 bits, bit 6 set when more follow; a
signed varint keeps the sign in its lowest bit.

The table is the target's: every length and delta is bounded, and a malformed table gives the
lines it could decode (never an exception from here).
"""

from __future__ import annotations

from bisect import bisect_right

NO_LINE = 0  # what an instruction without a location (code 15) reports


def _varint(table: bytes, at: int) -> tuple[int, int]:
    """An unsigned varint at ``at``: (value, next position)."""
    value = 0
    shift = 0
    while at < len(table) and shift < 64:
        byte = table[at]
        at += 1
        value |= (byte & 0x3F) << shift
        shift += 6
        if not byte & 0x40:
            break
    return value, at


def _svarint(table: bytes, at: int) -> tuple[int, int]:
    value, at = _varint(table, at)
    return (-(value >> 1) if value & 1 else value >> 1), at


class LineTable:
    """The decoded table of one code object: ``line_at(byte offset)`` by binary search."""

    __slots__ = ("_ends", "_lines")

    def __init__(self, table: bytes, first_line: int) -> None:
        ends: list[int] = []  # code unit after each entry
        lines: list[int] = []
        line = first_line
        unit = 0
        at = 0
        n = len(table)
        while at < n:
            first = table[at]
            at += 1
            if not first & 0x80:
                continue  # not at an entry start: resynchronise (a malformed table)
            code = (first >> 3) & 0xF
            unit += (first & 7) + 1
            if code == 15:
                entry_line = NO_LINE
            elif code == 14:
                delta, at = _svarint(table, at)
                line += delta
                entry_line = line
                for _ in range(3):  # end line delta, column + 1, end column + 1
                    _, at = _varint(table, at)
            elif code == 13:
                delta, at = _svarint(table, at)
                line += delta
                entry_line = line
            elif code >= 10:
                line += code - 10
                entry_line = line
                at += 2
            else:
                entry_line = line
                at += 1
            ends.append(unit)
            lines.append(entry_line)
        self._ends = ends
        self._lines = lines

    def line_at(self, offset: int) -> int:
        """The line of the instruction at byte ``offset`` of the bytecode (0 when unknown)."""
        unit = offset // 2
        i = bisect_right(self._ends, unit)
        if i >= len(self._lines) or unit < 0:
            return NO_LINE
        return self._lines[i]

    def __len__(self) -> int:
        return len(self._lines)
