"""pprof_encoder vs the protobuf package (upb) on a realistic profile, measured in one run.

The profile: 20 000 samples (distinct stacks 4–32 deep), 5 000 locations (one in ten with an
inlined frame), 2 000 functions, 3 mappings, 3 labels per sample, two sample types.

- build+encode: ours (ProfileBuilder + encode) vs the same interning written against the
  generated ``perftools.profiles`` classes, then ``SerializeToString`` (upb).
- encode: from an already built model, ours vs filling the upb message and serializing it.
- parse: ours (decode + resolve + check_valid) vs upb ``ParseFromString`` + summing the values
  (upb parses lazily; touching the samples makes it do the work a reader needs).
- OTLP encode: the same model as an ``ExportProfilesServiceRequest`` (one resource, one profile
  per sample type, shared dictionary), ours vs filling opentelemetry-proto's upb classes.

Run: python -m pytest bench/test_bench_pprof.py -p no:cacheprovider -s
On a busy machine add ``--benchmark-timer=time.process_time`` (CPU time, not wall time).
"""

from __future__ import annotations

import pytest

from pprof_encoder import Frame, parse
from pprof_encoder.encode import StringTable
from pprof_encoder.otlp import decode_request, profile_to_otlp
from tests.pprof_encoder.oracles import build_realistic, profile_pb2, realistic_samples

ROUNDS = 5
medians: dict[str, float] = {}


@pytest.fixture(scope="module")
def samples():
    return realistic_samples(n_samples=20_000, n_locations=5_000, n_functions=2_000)


@pytest.fixture(scope="module")
def model(samples):
    return build_realistic(samples).build()


def upb_build_serialize(samples) -> bytes:
    """The builder's work done with protobuf messages: intern, merge, fill, serialize."""
    pb = profile_pb2()
    msg = pb.Profile()
    strings = StringTable()
    msg.sample_type.add(type=strings("samples"), unit=strings("count"))
    msg.sample_type.add(type=strings("cpu"), unit=strings("nanoseconds"))
    msg.period_type.type = strings("cpu")
    msg.period_type.unit = strings("nanoseconds")
    msg.period = 10_101_010
    mappings: dict[tuple, int] = {}
    functions: dict[tuple, int] = {}
    locations: dict[tuple, int] = {}
    frame_location: dict[Frame, int] = {}
    merged: dict[tuple, list[int]] = {}

    def function_id(f: Frame) -> int:
        key = (f.function, f.file)
        fid = functions.get(key)
        if fid is None:
            fid = functions[key] = len(functions) + 1
            name = strings(f.function)
            msg.function.add(id=fid, name=name, system_name=name, filename=strings(f.file))
        return fid

    for frames, values, labels in samples:
        ids = []
        pending: list[Frame] = []
        for f in frames:
            lid = frame_location.get(f)
            if lid is not None and not pending:
                ids.append(lid)
                continue
            pending.append(f)
            if f.inlined:
                continue
            m = f.mapping
            mkey = (m.start, m.limit, m.offset, m.filename, m.build_id)
            mid = mappings.get(mkey)
            if mid is None:
                mid = mappings[mkey] = len(mappings) + 1
                msg.mapping.add(
                    id=mid,
                    memory_start=m.start,
                    memory_limit=m.limit,
                    file_offset=m.offset,
                    filename=strings(m.filename),
                    build_id=strings(m.build_id),
                    has_functions=True,
                )
            lkey = (mid, f.address, tuple((p.function, p.file, p.line) for p in pending))
            lid = locations.get(lkey)
            if lid is None:
                lid = locations[lkey] = len(locations) + 1
                loc = msg.location.add(id=lid, mapping_id=mid, address=f.address)
                for p in pending:
                    loc.line.add(function_id=function_id(p), line=p.line)
            if len(pending) == 1:
                frame_location[f] = lid
            ids.append(lid)
            pending = []
        key = (tuple(ids), tuple(sorted(labels.items())))
        acc = merged.get(key)
        if acc is None:
            merged[key] = list(values)
        else:
            acc[0] += values[0]
            acc[1] += values[1]
    for (ids, labels), values in merged.items():
        s = msg.sample.add()
        s.location_id.extend(ids)
        s.value.extend(values)
        for key, value in labels:
            if isinstance(value, str):
                s.label.add(key=strings(key), str=strings(value))
            elif isinstance(value, tuple):
                s.label.add(key=strings(key), num=value[0], num_unit=strings(value[1]))
            else:
                s.label.add(key=strings(key), num=value)
    msg.string_table.extend(strings.strings)
    return msg.SerializeToString()


def upb_encode_model(p) -> bytes:
    """Fill the upb message from an already built model and serialize it."""
    pb = profile_pb2()
    strings = StringTable()
    msg = pb.Profile()
    for vt in p.sample_type:
        msg.sample_type.add(type=strings(vt.type), unit=strings(vt.unit))
    for s in p.samples:
        x = msg.sample.add()
        x.location_id.extend([loc.id for loc in s.locations])
        x.value.extend(s.values)
        for lb in s.labels:
            x.label.add(
                key=strings(lb.key), str=strings(lb.str), num=lb.num, num_unit=strings(lb.num_unit)
            )
    for m in p.mappings:
        msg.mapping.add(
            id=m.id,
            memory_start=m.start,
            memory_limit=m.limit,
            file_offset=m.offset,
            filename=strings(m.filename),
            build_id=strings(m.build_id),
        )
    for loc in p.locations:
        x = msg.location.add(
            id=loc.id, mapping_id=loc.mapping.id if loc.mapping else 0, address=loc.address
        )
        for ln in loc.lines:
            x.line.add(function_id=ln.function.id, line=ln.line)
    for f in p.functions:
        msg.function.add(
            id=f.id,
            name=strings(f.name),
            system_name=strings(f.system_name),
            filename=strings(f.filename),
        )
    msg.string_table.extend(strings.strings)
    return msg.SerializeToString()


def upb_parse(data: bytes) -> int:
    msg = profile_pb2().Profile()
    msg.ParseFromString(data)
    return sum(s.value[1] for s in msg.sample)


def record(benchmark, name: str, fn, *args):
    result = benchmark.pedantic(fn, args=args, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    medians[name] = benchmark.stats.stats.median
    return result


def report(ours: str, peer: str) -> None:
    if ours in medians and peer in medians:
        print(
            f"\n{ours}: {medians[ours] * 1e3:.0f} ms, {peer}: {medians[peer] * 1e3:.0f} ms, "
            f"ours/peer = {medians[ours] / medians[peer]:.2f}"
        )


def test_ours_build_encode(benchmark, samples):
    data = record(benchmark, "ours build+encode", lambda s: build_realistic(s).encode(), samples)
    assert parse(data).total() == sum(v[1] for _, v, _ in samples)


def test_upb_build_serialize(benchmark, samples):
    data = record(benchmark, "upb build+serialize", upb_build_serialize, samples)
    assert parse(data).total() == sum(v[1] for _, v, _ in samples)
    report("ours build+encode", "upb build+serialize")


def test_ours_encode(benchmark, model):
    data = record(benchmark, "ours encode", lambda p: p.encode(), model)
    assert len(parse(data).samples) == len(model.samples)


def test_upb_encode(benchmark, model):
    data = record(benchmark, "upb fill+serialize", upb_encode_model, model)
    assert len(parse(data).samples) == len(model.samples)
    report("ours encode", "upb fill+serialize")


def test_ours_parse(benchmark, model):
    data = model.encode()
    p = record(benchmark, "ours parse", parse, data)
    assert p.total() == model.total()


def test_upb_parse(benchmark, model):
    data = model.encode()
    assert record(benchmark, "upb parse", upb_parse, data) == model.total()
    report("ours parse", "upb parse")


def upb_otlp_encode(p) -> bytes:
    """The model as an ExportProfilesServiceRequest built with opentelemetry-proto (upb)."""
    from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
        ExportProfilesServiceRequest,
    )

    req = ExportProfilesServiceRequest()
    d = req.dictionary
    strings = StringTable()
    for table in (
        d.mapping_table,
        d.location_table,
        d.function_table,
        d.link_table,
        d.attribute_table,
        d.stack_table,
    ):
        table.add()
    attributes: dict[tuple, int] = {}

    def attribute(key, value, unit="") -> int:
        k = (key, value, unit)
        i = attributes.get(k)
        if i is None:
            i = attributes[k] = len(d.attribute_table)
            a = d.attribute_table.add(key_strindex=strings(key), unit_strindex=strings(unit))
            if isinstance(value, str):
                a.value.string_value = value
            else:
                a.value.int_value = value
        return i

    mappings = {}
    for m in p.mappings:
        mappings[m] = len(d.mapping_table)
        x = d.mapping_table.add(
            memory_start=m.start,
            memory_limit=m.limit,
            file_offset=m.offset,
            filename_strindex=strings(m.filename),
        )
        if m.build_id:
            x.attribute_indices.append(attribute("process.executable.build_id.gnu", m.build_id))
    functions = {}
    for f in p.functions:
        functions[f] = len(d.function_table)
        d.function_table.add(
            name_strindex=strings(f.name),
            system_name_strindex=strings(f.system_name),
            filename_strindex=strings(f.filename),
        )
    locations = {}
    for loc in p.locations:
        locations[loc] = len(d.location_table)
        x = d.location_table.add(
            mapping_index=mappings[loc.mapping] if loc.mapping else 0, address=loc.address
        )
        for ln in loc.lines:
            x.lines.add(function_index=functions[ln.function], line=ln.line)
    stacks: dict[tuple, int] = {}
    heads = []
    for s in p.samples:
        key = tuple(map(locations.__getitem__, s.locations))
        i = stacks.get(key)
        if i is None:
            i = stacks[key] = len(d.stack_table)
            d.stack_table.add().location_indices.extend(key)
        attrs = [
            attribute(lb.key, lb.num, lb.num_unit) if lb.is_num else attribute(lb.key, lb.str)
            for lb in s.labels
        ]
        heads.append((i, attrs))
    rp = req.resource_profiles.add()
    rp.resource.attributes.add(key="service.name").value.string_value = "bench"
    sp = rp.scope_profiles.add()
    sp.scope.name = "pureprof"
    for t, vt in enumerate(p.sample_type):
        prof = sp.profiles.add(
            time_unix_nano=p.time_nanos, duration_nano=p.duration_nanos, period=p.period
        )
        prof.sample_type.type_strindex = strings(vt.type)
        prof.sample_type.unit_strindex = strings(vt.unit)
        for (stack, attrs), s in zip(heads, p.samples, strict=True):
            x = prof.samples.add(stack_index=stack)
            x.attribute_indices.extend(attrs)
            x.values.append(s.values[t])
    d.string_table.extend(strings.strings)
    return req.SerializeToString()


def otlp_total(data: bytes) -> int:
    [r] = decode_request(data)
    return r.profiles[-1].total()


def test_ours_otlp_encode(benchmark, model):
    data = record(benchmark, "ours OTLP encode", lambda p: profile_to_otlp(p, {"a": 1}), model)
    assert otlp_total(data) == model.total()


def test_upb_otlp_encode(benchmark, model):
    data = record(benchmark, "upb OTLP fill+serialize", upb_otlp_encode, model)
    assert otlp_total(data) == model.total()
    report("ours OTLP encode", "upb OTLP fill+serialize")
