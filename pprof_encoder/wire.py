"""The protobuf wire format: varint, zigzag, fixed32/64, length-delimited, packed repeated.

This module knows nothing of profiles. Writing is done with plain functions that return bytes
(a sub-message is encoded body first and its length put in front: no sizing pass). Reading walks
``(buf, start, end)`` ranges of one ``bytes`` object without copying, and every malformed input
raises :class:`DecodeError` with the byte offset, never an ``IndexError`` or silent garbage.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5

_MASK64 = (1 << 64) - 1
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")


class DecodeError(ValueError):
    """The bytes are not a well-formed message of the expected type."""


def _encode_varint_slow(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Ids, lengths and string indices are nearly always below 2**14: a table lookup is the fast path.
_SMALL_LIMIT = 1 << 14
_SMALL = [bytes((i,)) for i in range(0x80)] + [
    bytes(((i & 0x7F) | 0x80, i >> 7)) for i in range(0x80, _SMALL_LIMIT)
]


def encode_varint(n: int) -> bytes:
    """The varint encoding of ``n``; negative numbers are written as 64-bit two's complement."""
    if 0 <= n < _SMALL_LIMIT:
        return _SMALL[n]
    if n < 0:
        n &= _MASK64
    elif n > _MASK64:
        raise ValueError(f"{n} does not fit in 64 bits")
    return _encode_varint_slow(n)


def zigzag(n: int) -> int:
    """Map a signed 64-bit integer to an unsigned one (sint32/sint64 encoding)."""
    return ((n << 1) ^ (n >> 63)) & _MASK64


def unzigzag(n: int) -> int:
    """Inverse of :func:`zigzag`."""
    return (n >> 1) ^ -(n & 1)


def to_int64(n: int) -> int:
    """Interpret a decoded unsigned 64-bit varint as a signed int64."""
    return n - (1 << 64) if n >= 1 << 63 else n


def tag(field: int, wire_type: int) -> bytes:
    """The key of a field: field number and wire type."""
    return encode_varint((field << 3) | wire_type)


def varint_field(field: int, value: int) -> bytes:
    """A varint field (int32/int64/uint32/uint64/bool/enum); empty when ``value`` is 0."""
    if not value:
        return b""
    return encode_varint(field << 3) + encode_varint(value)


def sint_field(field: int, value: int) -> bytes:
    """A zigzag-encoded (sint64) field; empty when ``value`` is 0."""
    if not value:
        return b""
    return encode_varint(field << 3) + encode_varint(zigzag(value))


def fixed64_field(field: int, value: int) -> bytes:
    """A fixed64 field; empty when ``value`` is 0."""
    if not value:
        return b""
    return encode_varint((field << 3) | FIXED64) + _FIXED64.pack(value & _MASK64)


def fixed32_field(field: int, value: int) -> bytes:
    """A fixed32 field; empty when ``value`` is 0."""
    if not value:
        return b""
    return encode_varint((field << 3) | FIXED32) + _FIXED32.pack(value & 0xFFFFFFFF)


def len_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field (bytes, string, sub-message, packed), written even when empty."""
    return encode_varint((field << 3) | LEN) + encode_varint(len(payload)) + payload


def bytes_field(field: int, payload: bytes) -> bytes:
    """A bytes/string/sub-message field; empty when ``payload`` is empty (proto3 default)."""
    if not payload:
        return b""
    return encode_varint((field << 3) | LEN) + encode_varint(len(payload)) + payload


def string_field(field: int, text: str) -> bytes:
    """A UTF-8 string field; empty when ``text`` is empty."""
    return bytes_field(field, text.encode())


def pack_varints(values: Iterable[int]) -> bytes:
    """The payload of a packed repeated varint field."""
    small, limit = _SMALL, _SMALL_LIMIT
    return b"".join([small[v] if 0 <= v < limit else encode_varint(v) for v in values])


def packed_field(field: int, values: Iterable[int]) -> bytes:
    """A packed repeated varint field; empty when there are no values."""
    return bytes_field(field, pack_varints(values))


def packed_fixed64_field(field: int, values: list[int]) -> bytes:
    """A packed repeated fixed64 field; empty when there are no values."""
    if not values:
        return b""
    return len_field(field, struct.pack(f"<{len(values)}Q", *(v & _MASK64 for v in values)))


# Reading -------------------------------------------------------------------------------------


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``buf[pos]``; returns ``(value, next_pos)``."""
    if pos >= end:
        raise DecodeError(f"truncated varint at byte {pos}")
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    start = pos
    pos += 1
    while True:
        if pos >= end:
            raise DecodeError(f"truncated varint at byte {start}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift >= 70:
            raise DecodeError(f"varint longer than 10 bytes at byte {start}")
    if result > _MASK64:
        raise DecodeError(f"varint at byte {start} overflows 64 bits")
    return result, pos


def unpack_varints(buf: bytes, start: int, end: int) -> list[int]:
    """Decode the payload of a packed repeated varint field, ``buf[start:end]``."""
    out: list[int] = []
    append = out.append
    value = shift = 0
    # A for loop over the bytes runs faster than indexing them one by one.
    for b in buf[start:end]:
        if b < 0x80:
            if shift:
                value |= b << shift
                if shift > 56 and value > _MASK64:
                    raise DecodeError(f"a varint in the packed field at byte {start} overflows")
                append(value)
                value = shift = 0
            else:
                append(b)
        else:
            value |= (b & 0x7F) << shift
            shift += 7
            if shift >= 70:
                raise DecodeError(f"varint longer than 10 bytes in the packed field at {start}")
    if shift:
        raise DecodeError(f"truncated varint at the end of the packed field at byte {start}")
    return out


def unpack_fixed64(buf: bytes, start: int, end: int) -> list[int]:
    """Decode the payload of a packed repeated fixed64 field."""
    if (end - start) % 8:
        raise DecodeError(f"packed fixed64 field at byte {start} is not a multiple of 8 bytes")
    return list(struct.unpack_from(f"<{(end - start) // 8}Q", buf, start))


def iter_fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Walk the fields of the message ``buf[start:end]``.

    Yields ``(field_number, wire_type, a, b)``: for VARINT, FIXED64 and FIXED32 ``a`` is the
    value and ``b`` is 0; for LEN, ``buf[a:b]`` is the payload. Groups (wire types 3 and 4) are
    obsolete and rejected.
    """
    pos = start
    while pos < end:
        key_pos = pos
        key, pos = read_varint(buf, pos, end)
        field = key >> 3
        wire_type = key & 7
        if field == 0:
            raise DecodeError(f"field number 0 at byte {key_pos}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield field, VARINT, value, 0
        elif wire_type == LEN:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise DecodeError(
                    f"field {field} at byte {key_pos}: length {length} exceeds the "
                    f"{end - pos} bytes left"
                )
            yield field, LEN, pos, pos + length
            pos += length
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise DecodeError(f"truncated fixed64 field {field} at byte {key_pos}")
            yield field, FIXED64, _FIXED64.unpack_from(buf, pos)[0], 0
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise DecodeError(f"truncated fixed32 field {field} at byte {key_pos}")
            yield field, FIXED32, _FIXED32.unpack_from(buf, pos)[0], 0
            pos += 4
        else:
            raise DecodeError(
                f"unsupported wire type {wire_type} for field {field} at byte {key_pos}"
            )


def repeated_varints(buf: bytes, wire_type: int, a: int, b: int, out: list[int], what: str) -> None:
    """Append a repeated varint field's values to ``out``, packed (LEN) or not (VARINT)."""
    if wire_type == LEN:
        out.extend(unpack_varints(buf, a, b))
    elif wire_type == VARINT:
        out.append(a)
    else:
        raise DecodeError(f"{what}: wire type {wire_type}, expected a varint or packed varints")


def expect(wire_type: int, wanted: int, what: str) -> None:
    """Raise :class:`DecodeError` unless a known field has the wire type its schema says."""
    if wire_type != wanted:
        names = {VARINT: "varint", FIXED64: "fixed64", LEN: "length-delimited", FIXED32: "fixed32"}
        raise DecodeError(
            f"{what}: wire type {names.get(wire_type, wire_type)}, expected {names[wanted]}"
        )


def text(buf: bytes, a: int, b: int, what: str) -> str:
    """Decode ``buf[a:b]`` as UTF-8, with an error naming the field."""
    try:
        return buf[a:b].decode()
    except UnicodeDecodeError as err:
        raise DecodeError(f"{what}: invalid UTF-8 at byte {a + err.start}") from None
