"""pprof_encoder vs the protobuf package (upb) on a realistic profile, measured in one run.

The profile: 20 000 samples (distinct stacks 4–32 deep), 5 000 locations (one in ten with an
inlined frame), 2 000 functions, 3 mappings, 3 labels per sample, two sample types.

- build+encode: ours (ProfileBuilder + encode) vs the same interning written against the
  generated ``perftools.profiles`` classes, then ``SerializeToString`` (upb).
- encode: from an already built model, ours vs filling the upb message and serializing it.
- parse: ours (decode + resolve + check_valid) vs upb ``ParseFromString`` + summing the values
  (upb parses lazily; touching the samples makes it do the work a reader needs).

Run: python -m pytest bench/test_bench_pprof.py -p no:cacheprovider -s
"""

from __future__ import annotations

import pytest

from pprof_encoder import Frame, parse
from pprof_encoder.encode import StringTable
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
