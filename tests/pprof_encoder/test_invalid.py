"""Invalid pprof input: clear errors (DecodeError / InvalidProfileError), never a crash."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pprof_encoder import (
    DecodeError,
    Frame,
    Function,
    InvalidProfileError,
    Line,
    Location,
    Mapping,
    ProfileBuilder,
    check_valid,
    parse,
)
from pprof_encoder.wire import len_field, varint_field

from .oracles import profile_pb2


def small_profile_bytes() -> bytes:
    b = ProfileBuilder([("samples", "count")], ("cpu", "nanoseconds"), 10, time_nanos=123)
    m = Mapping(0x1000, 0x9000, 0, "/bin/app", "abc")
    b.add_sample(
        [
            Frame("leaf", "a.c", 1, 0x1100, m, inlined=True),
            Frame("mid", "a.c", 2, 0x1100, m),
            "main",
        ],
        3,
        {"pid": 7, "comm": "app"},
    )
    b.add_sample(["main"], 1, {"pid": 7})
    return b.encode()


def pb_profile():
    """A small valid profile as an official protobuf message, to break on purpose."""
    msg = profile_pb2().Profile()
    msg.ParseFromString(small_profile_bytes())
    return msg


def test_every_truncation_is_a_clear_error_or_a_smaller_valid_profile():
    data = small_profile_bytes()
    errors = 0
    for n in range(len(data)):
        try:
            parse(data[:n])
        except (DecodeError, InvalidProfileError) as err:
            assert str(err)
            errors += 1
    # Cutting between two fields leaves a well-formed shorter message; cutting inside one fails.
    assert errors > len(data) // 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data):
    try:
        p = parse(data)
    except (DecodeError, InvalidProfileError):
        return
    check_valid(p)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_flipped_bytes_never_crash(position, value):
    data = bytearray(small_profile_bytes())
    data[position % len(data)] = value
    try:
        parse(bytes(data))
    except (DecodeError, InvalidProfileError):
        pass


def test_string_index_out_of_range():
    msg = pb_profile()
    msg.function[0].name = len(msg.string_table) + 5
    with pytest.raises(DecodeError, match=r"Function\.name: string index \d+ out of range"):
        parse(msg.SerializeToString())


def test_label_string_index_out_of_range():
    msg = pb_profile()
    msg.sample[0].label[0].key = 999
    with pytest.raises(DecodeError, match=r"Label\.key: string index 999 out of range"):
        parse(msg.SerializeToString())


def test_first_string_must_be_empty():
    msg = pb_profile()
    msg.string_table[0] = "x"
    with pytest.raises(DecodeError, match=r'string_table\[0\] must be ""'):
        parse(msg.SerializeToString())


@pytest.mark.parametrize("table", ["location", "function", "mapping"])
def test_id_zero_is_refused(table):
    msg = pb_profile()
    obj = getattr(msg, table)[-1]
    obj.id = 0
    # References to the renumbered object now dangle or point at id 0: either error is clear.
    with pytest.raises((InvalidProfileError, DecodeError), match=r"id 0|does not exist|unknown"):
        parse(msg.SerializeToString())


def test_id_zero_location_that_nothing_references():
    msg = pb_profile()
    msg.location.add(id=0)
    with pytest.raises(InvalidProfileError, match="location with reserved id 0"):
        parse(msg.SerializeToString())


def test_duplicate_ids_are_refused():
    msg = pb_profile()
    msg.function.add(id=msg.function[0].id, name=0)
    with pytest.raises(InvalidProfileError, match="multiple functions with the same id"):
        parse(msg.SerializeToString())


def test_unknown_references_are_refused():
    msg = pb_profile()
    msg.sample[0].location_id.append(4242)
    with pytest.raises(DecodeError, match="location id 4242, which does not exist"):
        parse(msg.SerializeToString())
    msg = pb_profile()
    msg.location[0].mapping_id = 77
    with pytest.raises(DecodeError, match="mapping id 77"):
        parse(msg.SerializeToString())
    msg = pb_profile()
    msg.location[0].line[0].function_id = 88
    with pytest.raises(DecodeError, match="unknown function id 88"):
        parse(msg.SerializeToString())


def test_value_count_must_match_sample_types():
    msg = pb_profile()
    msg.sample[0].value.append(1)
    with pytest.raises(InvalidProfileError, match="sample 0 has 2 values but the profile has 1"):
        parse(msg.SerializeToString())


def test_samples_without_sample_types():
    msg = pb_profile()
    del msg.sample_type[:]
    for s in msg.sample:
        del s.value[:]
    with pytest.raises(InvalidProfileError, match="missing sample type"):
        parse(msg.SerializeToString())


def test_wrong_wire_type_for_a_known_field():
    data = small_profile_bytes() + varint_field(5, 3)  # Profile.function must be a message
    with pytest.raises(DecodeError, match="Profile field 5: wire type varint"):
        parse(data)


def test_unknown_fields_are_skipped():
    data = small_profile_bytes()
    extra = varint_field(100, 12345) + len_field(101, b"future stuff")
    assert parse(data + extra).encode() == data
    assert parse(extra + data).encode() == data


def test_corrupt_gzip_is_a_clear_error():
    data = gzip.compress(small_profile_bytes())
    with pytest.raises(DecodeError, match="corrupt gzip"):
        parse(data[: len(data) // 2])


def two_frame_profile():
    b = ProfileBuilder([("samples", "count")])
    b.add_sample(["a", "b"], 1)
    return b.build()


def test_check_valid_catches_objects_missing_from_the_tables():
    p = two_frame_profile()
    p.locations[0].lines[0] = Line(Function("stray", id=99), 1)
    with pytest.raises(InvalidProfileError, match="references function 99"):
        check_valid(p)
    p = two_frame_profile()
    p.samples[0].locations.append(Location(id=50))
    with pytest.raises(InvalidProfileError, match="references location 50"):
        check_valid(p)
    p = two_frame_profile()
    p.default_sample_type = "cpu"
    with pytest.raises(InvalidProfileError, match="default_sample_type 'cpu'"):
        check_valid(p)


def test_unusual_but_legal_sample_layouts_parse_the_same():
    """Unpacked ids, labels before values, a second packed run: what other writers may emit."""
    b = ProfileBuilder([("samples", "count")])
    b.add_sample(["leaf", "main"], 3, {"k": "v", "n": 2})
    canonical = b.encode()
    p = parse(canonical)
    [s] = p.samples
    ids = [loc.id for loc in s.locations]
    strings = list(profile_pb2().Profile.FromString(canonical).string_table)
    label = len_field(3, varint_field(1, strings.index("k")) + varint_field(2, strings.index("v")))
    label2 = len_field(3, varint_field(1, strings.index("n")) + varint_field(3, 2))
    odd_sample = (
        label
        + varint_field(1, ids[0])  # unpacked location id
        + varint_field(2, 3)  # unpacked value
        + len_field(1, bytes([ids[1]]))  # the rest of the ids, packed
        + label2
    )
    # Replace the sample (field 2 of Profile) in the canonical bytes by the odd one.
    msg = profile_pb2().Profile.FromString(canonical)
    del msg.sample[:]
    odd = msg.SerializeToString() + len_field(2, odd_sample)
    q = parse(odd)
    assert [loc.id for loc in q.samples[0].locations] == ids
    assert q.samples[0].values == [3]
    assert sorted(q.samples[0].labels) == sorted(s.labels)


def test_concatenated_profiles_are_refused():
    data = small_profile_bytes()
    with pytest.raises(DecodeError, match="concatenated profiles detected"):
        parse(data + data)
