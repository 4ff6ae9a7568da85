"""LEB128 integers, the variable-length encoding of DWARF (.debug_info, .debug_line) and of the
call frame information (.eh_frame, .debug_frame). One reader for every DWARF parser of ours."""

from __future__ import annotations


def uleb128(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at ``pos``; returns ``(value, next_pos)``."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def sleb128(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a signed LEB128 at ``pos``; returns ``(value, next_pos)``."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (result - (1 << shift) if byte & 0x40 else result), pos
