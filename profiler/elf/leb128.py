"""LEB128 integers, the variable-length encoding of DWARF (.debug_info, .debug_line) and of the
call frame information (.eh_frame, .debug_frame). One reader for every DWARF parser of ours.

Bounded: a number longer than :data:`MAX_BYTES` (what any 64-bit value needs) raises
:class:`~profiler.elf.errors.Leb128Error` instead of growing a huge integer from a long run of
continuation bytes; a number cut off by the end of ``data`` raises ``IndexError``. Readers turn
both into their own documented error at their boundary.
"""

from __future__ import annotations

from .errors import Leb128Error

MAX_BYTES = 10  # ceil(64 / 7): a longer encoding is never a 64-bit value
_MAX_SHIFT = 7 * MAX_BYTES


def uleb128(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at ``pos``; returns ``(value, next_pos)``."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    shift = 7
    while True:
        pos += 1
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + 1
        shift += 7
        if shift >= _MAX_SHIFT:
            start = pos - MAX_BYTES + 1
            raise Leb128Error(f"LEB128 number at {start:#x} exceeds {MAX_BYTES} bytes")


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
        if shift >= _MAX_SHIFT:
            raise Leb128Error(f"LEB128 number at {pos - MAX_BYTES:#x} exceeds {MAX_BYTES} bytes")
