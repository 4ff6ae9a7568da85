"""pprof: the builder, encode/parse, and what the official runtime and `go tool pprof` read."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pprof_encoder import Frame, Label, Mapping, ProfileBuilder, decode_profile, parse
from tests.support import require_tool

from .oracles import (
    build_realistic,
    decode_with_protobuf,
    go_pprof,
    go_pprof_raw_totals,
    realistic_samples,
)
from .strategies import sample_lists

MAP = Mapping(0x400000, 0x500000, 0x1000, "/usr/bin/app", "b1d0")


def two_types() -> ProfileBuilder:
    return ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 7)


def test_equal_stacks_with_equal_labels_merge():
    b = two_types()
    b.add_sample(["leaf", "main"], [1, 7], {"pid": 1})
    b.add_sample([Frame("leaf"), Frame("main")], [2, 14], {"pid": 1})
    b.add_sample(["leaf", "main"], [4, 28], {"pid": 2})
    p = b.build()
    assert sorted(s.values for s in p.samples) == [[3, 21], [4, 28]]
    assert len(p.locations) == 2 and len(p.functions) == 2


def test_frames_may_come_from_a_generator():
    b = two_types()
    b.add_sample((f for f in [Frame("inner", inlined=True), "outer", "main"]), [1, 7])
    [s] = b.build().samples
    assert [[ln.function.name for ln in loc.lines] for loc in s.locations] == [
        ["inner", "outer"],
        ["main"],
    ]


def test_inlined_frames_share_one_location_with_the_caller_last():
    b = two_types()
    frames = [
        Frame("inner", "a.rs", 3, 0x401000, MAP, inlined=True),
        Frame("middle", "a.rs", 9, 0x401000, MAP, inlined=True),
        Frame("outer", "b.rs", 20, 0x401000, MAP),
        Frame("main", "m.rs", 1, 0x402000, MAP),
    ]
    b.add_sample(frames, [1, 7])
    p = parse(b.encode())
    [s] = p.samples
    leaf, root = s.locations
    assert [ln.function.name for ln in leaf.lines] == ["inner", "middle", "outer"]
    assert [ln.line for ln in leaf.lines] == [3, 9, 20]
    assert leaf.address == 0x401000 and leaf.mapping.filename == "/usr/bin/app"
    assert [ln.function.name for ln in root.lines] == ["main"]
    [m] = p.mappings
    assert (m.start, m.limit, m.offset, m.build_id) == (MAP.start, MAP.limit, MAP.offset, "b1d0")
    assert m.has_functions and m.has_filenames and m.has_line_numbers and m.has_inline_frames


def test_labels_str_num_and_unit_in_sorted_key_order():
    b = two_types()
    b.add_sample(["f"], [1, 1], {"thread_name": "worker", "pid": 123, "bytes": (100, "bytes")})
    [s] = parse(b.encode()).samples
    assert s.labels == (
        Label("bytes", num=100, num_unit="bytes", is_num=True),
        Label("pid", num=123, is_num=True),
        Label("thread_name", str="worker"),
    )


def test_bad_label_value_and_wrong_value_count_are_refused():
    b = two_types()
    with pytest.raises(TypeError, match="label 'pid'"):
        b.add_sample(["f"], [1, 1], {"pid": 1.5})
    with pytest.raises(ValueError, match="1 values given but the profile has 2 sample types"):
        b.add_sample(["f"], [1])
    with pytest.raises(TypeError, match="a frame must be a Frame or a str"):
        b.add_sample([42], [1, 1])


def test_profile_metadata_reaches_the_protobuf_runtime():
    b = ProfileBuilder(
        [("samples", "count")],
        ("cpu", "nanoseconds"),
        10_000_000,
        time_nanos=1_700_000_000_123,
        duration_nanos=5_000_000_000,
        comments=["first", "second"],
        drop_frames="runtime\\..*",
        keep_frames="main",
        default_sample_type="samples",
    )
    b.add_sample([Frame("leaf", "x.c", 4, 0x401234, MAP), "main"], 5, {"comm": "app"})
    msg = decode_with_protobuf(b.encode())
    strings = msg.string_table
    assert strings[0] == ""
    assert (msg.time_nanos, msg.duration_nanos, msg.period) == (
        1_700_000_000_123,
        5_000_000_000,
        10_000_000,
    )
    assert [strings[c] for c in msg.comment] == ["first", "second"]
    assert strings[msg.drop_frames] == "runtime\\..*" and strings[msg.keep_frames] == "main"
    assert strings[msg.default_sample_type] == "samples"
    assert (strings[msg.period_type.type], strings[msg.period_type.unit]) == ("cpu", "nanoseconds")
    [sample] = msg.sample
    assert list(sample.value) == [5]
    [label] = sample.label
    assert (strings[label.key], strings[label.str]) == ("comm", "app")
    functions = {f.id: strings[f.name] for f in msg.function}
    locations = {loc.id: loc for loc in msg.location}
    names = [functions[locations[i].line[0].function_id] for i in sample.location_id]
    assert names == ["leaf", "main"]
    assert locations[sample.location_id[0]].address == 0x401234


def test_realistic_profile_agrees_with_protobuf_runtime():
    samples = realistic_samples(n_samples=2_000, n_locations=500, n_functions=200)
    p = build_realistic(samples).build()
    msg = decode_with_protobuf(p.encode())
    assert len(msg.sample) == len(p.samples)
    assert len(msg.location) == len(p.locations) and len(msg.function) == len(p.functions)
    totals = [sum(s.value[i] for s in msg.sample) for i in range(2)]
    assert totals == [sum(v[0] for _, v, _ in samples), sum(v[1] for _, v, _ in samples)]
    assert [loc.id for loc in msg.location] == list(range(1, len(msg.location) + 1))


def test_encoding_is_deterministic_and_survives_a_round_trip():
    samples = realistic_samples(n_samples=500, n_locations=200, n_functions=80, seed=3)
    first = build_realistic(samples).encode()
    assert build_realistic(samples).encode() == first
    assert parse(first).encode() == first
    assert parse(gzip.compress(first)).encode() == first


def test_write_gives_gzip_that_parses(tmp_path, no_fd_leak):
    b = two_types()
    b.add_sample(["a", "b"], [1, 7])
    path = tmp_path / "p.pb.gz"
    b.write(str(path))
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert parse(data).encode() == b.encode()


def test_go_tool_pprof_reads_our_totals(tmp_path):
    go = require_tool("go")
    samples = realistic_samples(n_samples=3_000, n_locations=800, n_functions=300, seed=11)
    path = str(tmp_path / "realistic.pb.gz")
    build_realistic(samples).write(path)
    expected = [sum(v[0] for _, v, _ in samples), sum(v[1] for _, v, _ in samples)]
    assert go_pprof_raw_totals(go, path) == expected


def test_go_tool_pprof_sees_inlining_labels_and_mappings(tmp_path):
    go = require_tool("go")
    b = two_types()
    b.add_sample(
        [
            Frame("inner", "a.rs", 3, 0x401000, MAP, inlined=True),
            Frame("outer", "a.rs", 9, 0x401000, MAP),
            "main",
        ],
        [2, 14],
        {"thread_name": "worker", "bytes": (100, "bytes")},
    )
    path = str(tmp_path / "p.pb.gz")
    b.write(path)
    raw = go_pprof(go, "-raw", path)
    assert "thread_name:[worker]" in raw
    assert "bytes:[100 bytes]" in raw
    assert "inner a.rs:3" in raw and "outer a.rs:9" in raw
    assert "/usr/bin/app b1d0" in raw
    assert go_pprof_raw_totals(go, path) == [2, 14]


# Round trips over generated profiles --------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(sample_lists, st.integers(0, 1 << 62), st.lists(st.text(max_size=10), max_size=3))
def test_encode_parse_encode_gives_equal_bytes(samples, time_nanos, comments):
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1,
        time_nanos=time_nanos,
        comments=comments,
    )
    for stack, values, labels in samples:
        b.add_sample(stack, values, labels)
    data = b.encode()
    p = parse(data)
    assert p.encode() == data
    assert p.total(0) == sum(v[0] for _, v, _ in samples)
    assert p.total(1) == sum(v[1] for _, v, _ in samples)
    assert p.comments == comments and p.time_nanos == time_nanos
    assert decode_profile(data).encode() == data
