"""OTLP profiles: what opentelemetry-proto's ExportProfilesServiceRequest reads, and back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
)

from pprof_encoder import DecodeError, Frame, InvalidProfileError, Mapping, ProfileBuilder
from pprof_encoder.formats import otlp_to_profile
from pprof_encoder.otlp import (
    BUILD_ID_ATTRIBUTE,
    OTLP_PROTO_PACKAGE,
    OTLP_PROTO_VERSION,
    ResourceProfiles,
    decode_request,
    encode_request,
    profile_to_otlp,
)

from .oracles import build_realistic, realistic_samples
from .strategies import sample_lists

MAP = Mapping(0x400000, 0x500000, 0, "/usr/bin/app", "b1d0")


def sample_profile(seed: int = 5, n: int = 1_000):
    samples = realistic_samples(n_samples=n, n_locations=300, n_functions=120, seed=seed)
    return samples, build_realistic(samples).build()


def official(data: bytes) -> ExportProfilesServiceRequest:
    req = ExportProfilesServiceRequest()
    req.ParseFromString(data)
    return req


def test_recorded_proto_version():
    assert OTLP_PROTO_VERSION == "1.10.0"
    assert (
        OTLP_PROTO_PACKAGE
        == ExportProfilesServiceRequest.DESCRIPTOR.fields_by_name[
            "dictionary"
        ].message_type.full_name.rsplit(".", 1)[0]
    )


def test_opentelemetry_proto_reads_same_totals_per_sample_type():
    samples, p = sample_profile()
    req = official(profile_to_otlp(p, {"service.name": "app", "process.pid": 1234}))
    [rp] = req.resource_profiles
    attrs = {kv.key: kv.value for kv in rp.resource.attributes}
    assert attrs["service.name"].string_value == "app" and attrs["process.pid"].int_value == 1234
    [sp] = rp.scope_profiles
    assert sp.scope.name == "pureprof"
    d = req.dictionary
    by_type = {d.string_table[pr.sample_type.type_strindex]: pr for pr in sp.profiles}
    assert set(by_type) == {"samples", "cpu"}
    for i, name in enumerate(["samples", "cpu"]):
        total = sum(sum(s.values) for s in by_type[name].samples)
        assert total == sum(v[i] for _, v, _ in samples)
    cpu = by_type["cpu"]
    assert d.string_table[cpu.period_type.unit_strindex] == "nanoseconds"
    assert cpu.period == p.period and cpu.time_unix_nano == p.time_nanos
    assert cpu.duration_nano == p.duration_nanos
    assert len(cpu.profile_id) == 16 and any(cpu.profile_id)


def test_every_dictionary_table_starts_with_the_zero_value():
    _, p = sample_profile()
    d = official(profile_to_otlp(p)).dictionary
    assert d.string_table[0] == ""
    for table in (
        d.mapping_table,
        d.location_table,
        d.function_table,
        d.link_table,
        d.attribute_table,
        d.stack_table,
    ):
        assert len(table) >= 1 and table[0].ByteSize() == 0


def test_stacks_labels_and_mappings_resolve_through_the_dictionary():
    b = ProfileBuilder([("samples", "count")])
    frames = [
        Frame("inner", "a.rs", 3, 0x401000, MAP, inlined=True),
        Frame("outer", "a.rs", 9, 0x401000, MAP),
        "main",
    ]
    b.add_sample(frames, 4, {"thread.name": "worker", "thread.id": 77, "bytes": (10, "bytes")})
    req = official(profile_to_otlp(b.build()))
    d = req.dictionary
    s = d.string_table
    [sample] = req.resource_profiles[0].scope_profiles[0].profiles[0].samples
    stack = d.stack_table[sample.stack_index]
    names = [
        [s[d.function_table[ln.function_index].name_strindex] for ln in d.location_table[i].lines]
        for i in stack.location_indices
    ]
    assert names == [["inner", "outer"], ["main"]]
    leaf = d.location_table[stack.location_indices[0]]
    mapping = d.mapping_table[leaf.mapping_index]
    assert s[mapping.filename_strindex] == "/usr/bin/app" and leaf.address == 0x401000
    build_ids = [d.attribute_table[i] for i in mapping.attribute_indices]
    assert [(s[a.key_strindex], a.value.string_value) for a in build_ids] == [
        (BUILD_ID_ATTRIBUTE, "b1d0")
    ]
    attrs = {}
    for i in sample.attribute_indices:
        a = d.attribute_table[i]
        attrs[s[a.key_strindex]] = (a.value.WhichOneof("value"), s[a.unit_strindex])
    assert attrs == {
        "thread.name": ("string_value", ""),
        "thread.id": ("int_value", ""),
        "bytes": ("int_value", "bytes"),
    }
    assert sample.values == [4]


def test_zero_numbers_stay_numbers():
    """The idle task has tid 0: its thread.id must stay an int attribute, not an empty string."""
    b = ProfileBuilder([("samples", "count")])
    b.add_sample(["swapper"], 1, {"thread.id": 0, "thread.name": ""})
    req = official(profile_to_otlp(b.build()))
    d = req.dictionary
    [sample] = req.resource_profiles[0].scope_profiles[0].profiles[0].samples
    kinds = {
        d.string_table[d.attribute_table[i].key_strindex]: d.attribute_table[i].value.WhichOneof(
            "value"
        )
        for i in sample.attribute_indices
    }
    assert kinds == {"thread.id": "int_value", "thread.name": "string_value"}


def test_many_resources_share_one_dictionary():
    _, p1 = sample_profile(seed=1, n=300)
    _, p2 = sample_profile(seed=2, n=300)
    resources = [
        ResourceProfiles({"service.name": "a", "process.pid": 1}, [p1]),
        ResourceProfiles({"service.name": "b", "process.pid": 2}, [p1, p2], "pureprof", "0.1"),
    ]
    req = official(encode_request(resources))
    assert len(req.resource_profiles) == 2
    assert [len(rp.scope_profiles[0].profiles) for rp in req.resource_profiles] == [2, 4]
    d = req.dictionary
    # Interned once across the request: no duplicate entries in any table.
    for table in (d.function_table, d.location_table, d.mapping_table, d.stack_table):
        encoded = [e.SerializeToString() for e in table]
        assert len(set(encoded)) == len(encoded)
    assert len(set(d.string_table)) == len(d.string_table)
    decoded = decode_request(encode_request(resources))
    assert [r.attributes for r in decoded] == [r.attributes for r in resources]
    assert decoded[1].scope_version == "0.1"
    totals = [[q.total(0) for q in r.profiles] for r in decoded]
    assert totals == [
        [p1.total(0), p1.total(1)],
        [p1.total(0), p1.total(1), p2.total(0), p2.total(1)],
    ]


def test_decode_gives_back_the_model():
    _, p = sample_profile(seed=9, n=400)
    [r] = decode_request(profile_to_otlp(p, {"service.name": "x"}))
    samples_profile, cpu_profile = r.profiles
    for q in r.profiles:
        q.check_valid()
    assert samples_profile.sample_type == [p.sample_type[0]]
    assert cpu_profile.period_type == p.period_type and cpu_profile.period == p.period

    def names(sample):
        return [[ln.function.name for ln in loc.lines] for loc in sample.locations]

    assert [names(s) for s in cpu_profile.samples] == [names(s) for s in p.samples]
    assert [s.labels for s in cpu_profile.samples] == [s.labels for s in p.samples]
    assert [s.values[0] for s in cpu_profile.samples] == [s.values[1] for s in p.samples]
    merged = otlp_to_profile(profile_to_otlp(p))
    assert merged.sample_type == p.sample_type
    assert [merged.total(0), merged.total(1)] == [p.total(0), p.total(1)]


def test_encoding_is_deterministic():
    _, p = sample_profile(seed=4, n=200)
    assert profile_to_otlp(p, {"a": 1}) == profile_to_otlp(p, {"a": 1})


def test_out_of_range_indices_are_clear_errors():
    _, p = sample_profile(n=50)
    req = official(profile_to_otlp(p))
    req.resource_profiles[0].scope_profiles[0].profiles[0].samples[0].stack_index = 10_000
    with pytest.raises(DecodeError, match=r"Sample\.stack_index 10000 out of range"):
        decode_request(req.SerializeToString())
    req = official(profile_to_otlp(p))
    req.dictionary.location_table[1].lines[0].function_index = 5_000
    with pytest.raises(DecodeError, match=r"Line\.function_index 5000 out of range"):
        decode_request(req.SerializeToString())
    req = official(profile_to_otlp(p))
    req.dictionary.stack_table[1].location_indices.append(7_777)
    with pytest.raises(DecodeError, match=r"Stack\.location_indices 7777 out of range"):
        decode_request(req.SerializeToString())
    req = official(profile_to_otlp(p))
    req.dictionary.function_table[1].name_strindex = 99_999
    with pytest.raises(DecodeError, match=r"Function\.name_strindex 99999 out of range"):
        decode_request(req.SerializeToString())


def test_truncated_requests_are_clear_errors():
    _, p = sample_profile(n=20)
    data = profile_to_otlp(p)
    failures = 0
    for n in range(0, len(data), 7):
        try:
            decode_request(data[:n])
        except DecodeError as err:
            assert str(err)
            failures += 1
    assert failures > 0


@settings(max_examples=100, deadline=None)
@given(sample_lists)
def test_otlp_round_trip_keeps_stacks_labels_and_values(samples):
    b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 1)
    for stack, values, labels in samples:
        b.add_sample(stack, values, labels)
    p = b.build()
    [r] = decode_request(profile_to_otlp(p, {"process.pid": 1}))
    assert len(r.profiles) == 2

    def view(sample, t):
        stack = [
            [
                (ln.function.name, ln.function.system_name, ln.function.filename, ln.line)
                for ln in loc.lines
            ]
            + [(loc.address, loc.mapping.build_id if loc.mapping else None)]
            for loc in sample.locations
        ]
        return stack, sample.labels, sample.values[t]

    for t, q in enumerate(r.profiles):
        q.check_valid()
        assert q.sample_type == [p.sample_type[t]]
        assert [view(s, 0) for s in q.samples] == [view(s, t) for s in p.samples]


def test_every_sample_has_one_value_even_zero():
    b = ProfileBuilder([("alloc_space", "bytes"), ("inuse_space", "bytes")])
    b.add_sample(["malloc", "main"], [4096, 0])
    req = official(profile_to_otlp(b.build()))
    profiles = req.resource_profiles[0].scope_profiles[0].profiles
    assert [[list(s.values) for s in pr.samples] for pr in profiles] == [[[4096]], [[0]]]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_otlp_decoder(data):
    try:
        decode_request(data)
    except (DecodeError, InvalidProfileError):
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1 << 20), st.integers(0, 255))
def test_flipped_bytes_never_crash_the_otlp_decoder(position, value):
    b = ProfileBuilder([("samples", "count")], ("cpu", "nanoseconds"), 10)
    b.add_sample(
        [Frame("leaf", "a.c", 1, 0x401000, MAP, inlined=True), Frame("f", "a.c", 2, 0x401000, MAP)],
        3,
        {"thread.name": "w", "thread.id": 4},
    )
    data = bytearray(profile_to_otlp(b.build(), {"service.name": "s", "pi": 3.5, "ok": True}))
    data[position % len(data)] = value
    try:
        decode_request(bytes(data))
    except (DecodeError, InvalidProfileError):
        pass
