"""The protobuf wire layer: round trips, agreement with the protobuf runtime, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pprof_encoder import wire
from pprof_encoder.wire import DecodeError

from .oracles import profile_pb2

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
I64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@given(U64)
def test_varint_round_trip(n):
    data = wire.encode_varint(n)
    assert wire.read_varint(data, 0, len(data)) == (n, len(data))


@given(U64)
def test_varint_matches_protobuf_runtime(n):
    # Mapping.memory_start is uint64 field 2: its encoding is key 0x10 then the varint.
    expected = profile_pb2().Mapping(memory_start=n).SerializeToString()
    assert wire.varint_field(2, n) == expected


def test_every_small_varint_matches_protobuf_runtime():
    """Numbers below 2**15 cover the precomputed table (below 2**14) and its edge."""
    mapping = profile_pb2().Mapping
    for n in range(1, 1 << 15):
        assert wire.varint_field(2, n) == mapping(memory_start=n).SerializeToString()


@given(I64)
def test_negative_int64_matches_protobuf_runtime(n):
    expected = profile_pb2().Label(num=n).SerializeToString()
    assert wire.varint_field(3, n) == expected
    value, _ = wire.read_varint(wire.encode_varint(n), 0, 10)
    assert wire.to_int64(value) == n


@given(I64)
def test_zigzag_round_trip_and_small_magnitudes_stay_small(n):
    z = wire.zigzag(n)
    assert wire.unzigzag(z) == n
    assert 0 <= z < 1 << 64
    assert z <= 2 * abs(n)


@given(st.lists(I64, max_size=50))
def test_packed_varints_round_trip(values):
    payload = wire.pack_varints(values)
    assert [wire.to_int64(v) for v in wire.unpack_varints(payload, 0, len(payload))] == values


@given(st.lists(U64, max_size=20))
def test_packed_fixed64_round_trip(values):
    field = wire.packed_fixed64_field(5, values)
    decoded: list[int] = []
    for number, wire_type, a, b in wire.iter_fields(field, 0, len(field)):
        assert (number, wire_type) == (5, wire.LEN)
        decoded += wire.unpack_fixed64(field, a, b)
    assert decoded == values


@given(st.integers(min_value=1, max_value=(1 << 29) - 1), U64, st.binary(max_size=40))
def test_iter_fields_reads_every_wire_type(number, value, payload):
    data = (
        wire.varint_field(number, value or 1)
        + wire.fixed64_field(number, value or 1)
        + wire.fixed32_field(number, (value or 1) & 0xFFFFFFFF or 1)
        + wire.len_field(number, payload)
    )
    fields = list(wire.iter_fields(data, 0, len(data)))
    assert [(f, t) for f, t, _, _ in fields] == [
        (number, wire.VARINT),
        (number, wire.FIXED64),
        (number, wire.FIXED32),
        (number, wire.LEN),
    ]
    assert fields[0][2] == fields[1][2] == (value or 1)
    assert data[fields[3][2] : fields[3][3]] == payload


@pytest.mark.parametrize("length", range(1, 10))
def test_truncated_varint_is_an_error(length):
    data = b"\xff" * length
    with pytest.raises(DecodeError, match="truncated varint at byte 0"):
        wire.read_varint(data, 0, len(data))


def test_varint_longer_than_ten_bytes_is_an_error():
    data = b"\xff" * 10 + b"\x01"
    with pytest.raises(DecodeError, match="longer than 10 bytes"):
        wire.read_varint(data, 0, len(data))


def test_varint_over_64_bits_is_an_error():
    data = b"\xff" * 9 + b"\x7f"
    with pytest.raises(DecodeError, match="overflows 64 bits"):
        wire.read_varint(data, 0, len(data))


def test_truncated_packed_varint_is_an_error():
    payload = wire.pack_varints([1, 300, 1 << 40])
    with pytest.raises(DecodeError, match="truncated varint"):
        wire.unpack_varints(payload, 0, len(payload) - 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0a\x05abc", "length 5 exceeds the 3 bytes left"),
        (b"\x09\x01\x02", "truncated fixed64"),
        (b"\x0d\x01", "truncated fixed32"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x0c", "unsupported wire type 4"),
        (b"\x00\x01", "field number 0"),
        (b"\x08", "truncated varint at byte 1"),
    ],
)
def test_malformed_fields_are_errors(data, message):
    with pytest.raises(DecodeError, match=message):
        list(wire.iter_fields(data, 0, len(data)))


def test_encoding_more_than_64_bits_is_refused():
    with pytest.raises(ValueError, match="64 bits"):
        wire.encode_varint(1 << 64)


def test_invalid_utf8_string_is_an_error_naming_the_field():
    with pytest.raises(DecodeError, match=r"Profile\.string_table: invalid UTF-8"):
        wire.text(b"ok\xff", 0, 3, "Profile.string_table")


def test_overlong_and_overflowing_packed_varints_are_errors():
    too_long = b"\xff" * 10 + b"\x01"
    with pytest.raises(DecodeError, match="longer than 10 bytes"):
        wire.unpack_varints(too_long, 0, len(too_long))
    overflow = b"\xff" * 9 + b"\x7f"
    with pytest.raises(DecodeError, match="overflows"):
        wire.unpack_varints(overflow, 0, len(overflow))
