"""pprof protobuf bytes → Profile model, then validation (``parse``).

Decoding is two steps, as in google/pprof: read the wire fields into raw tables, then resolve
string indices and ids into objects in one place. Unknown fields are skipped; a known field with
the wrong wire type, a string index out of range, or a reference to an id that does not exist
raises :class:`~.wire.DecodeError` naming the message and field.
"""

from __future__ import annotations

import gzip
import zlib

from .gc_pause import paused_gc
from .profile import Function, Label, Line, Location, Mapping, Profile, Sample, ValueType
from .validate import check_valid
from .wire import (
    LEN,
    VARINT,
    DecodeError,
    expect,
    iter_fields,
    read_varint,
    repeated_varints,
    text,
    to_int64,
    unpack_varints,
)

_INT64_SIGN = 1 << 63


class _Strings:
    """Resolves string-table indices with errors that say which field held a bad index."""

    __slots__ = ("table",)

    def __init__(self, table: list[str]) -> None:
        self.table = table

    def __call__(self, i: int, what: str) -> str:
        if i >= len(self.table):
            raise DecodeError(
                f"{what}: string index {i} out of range (the string table has "
                f"{len(self.table)} entries)"
            )
        return self.table[i]


def _value_type(buf: bytes, a: int, b: int, strings: _Strings, what: str) -> ValueType:
    type_i = unit_i = 0
    for f, wt, v, _ in iter_fields(buf, a, b):
        if f == 1:
            expect(wt, VARINT, f"{what}.type")
            type_i = v
        elif f == 2:
            expect(wt, VARINT, f"{what}.unit")
            unit_i = v
    return ValueType(strings(type_i, f"{what}.type"), strings(unit_i, f"{what}.unit"))


def _mapping(buf: bytes, a: int, b: int, strings: _Strings) -> Mapping:
    v = [0] * 11
    for f, wt, x, _ in iter_fields(buf, a, b):
        if 1 <= f <= 10:
            expect(wt, VARINT, f"Mapping field {f}")
            v[f] = x
    return Mapping(
        start=v[2],
        limit=v[3],
        offset=v[4],
        filename=strings(v[5], "Mapping.filename"),
        build_id=strings(v[6], "Mapping.build_id"),
        has_functions=bool(v[7]),
        has_filenames=bool(v[8]),
        has_line_numbers=bool(v[9]),
        has_inline_frames=bool(v[10]),
        id=v[1],
    )


def _function(buf: bytes, a: int, b: int, strings: _Strings) -> Function:
    v = [0] * 6
    for f, wt, x, _ in iter_fields(buf, a, b):
        if 1 <= f <= 5:
            expect(wt, VARINT, f"Function field {f}")
            v[f] = x
    return Function(
        name=strings(v[2], "Function.name"),
        system_name=strings(v[3], "Function.system_name"),
        filename=strings(v[4], "Function.filename"),
        start_line=to_int64(v[5]),
        id=v[1],
    )


def _location(
    buf: bytes, a: int, b: int, mappings: dict[int, Mapping], functions: dict[int, Function]
) -> Location:
    loc = Location()
    for f, wt, x, y in iter_fields(buf, a, b):
        if f == 1:
            expect(wt, VARINT, "Location.id")
            loc.id = x
        elif f == 2:
            expect(wt, VARINT, "Location.mapping_id")
            if x:
                m = mappings.get(x)
                if m is None:
                    raise DecodeError(f"a location references mapping id {x}, which does not exist")
                loc.mapping = m
        elif f == 3:
            expect(wt, VARINT, "Location.address")
            loc.address = x
        elif f == 4:
            expect(wt, LEN, "Location.line")
            fid = line = column = 0
            for g, wt2, z, _ in iter_fields(buf, x, y):
                if g == 1:
                    expect(wt2, VARINT, "Line.function_id")
                    fid = z
                elif g == 2:
                    expect(wt2, VARINT, "Line.line")
                    line = to_int64(z)
                elif g == 3:
                    expect(wt2, VARINT, "Line.column")
                    column = to_int64(z)
            fn = functions.get(fid)
            if fn is None:
                raise DecodeError(f"a location's line references unknown function id {fid}")
            loc.lines.append(Line(fn, line, column))
        elif f == 5:
            expect(wt, VARINT, "Location.is_folded")
            loc.is_folded = bool(x)
    return loc


def _label(buf: bytes, a: int, b: int, strings: _Strings) -> Label:
    key = str_i = num = unit_i = 0
    for f, wt, x, _ in iter_fields(buf, a, b):
        if f == 1:
            expect(wt, VARINT, "Label.key")
            key = x
        elif f == 2:
            expect(wt, VARINT, "Label.str")
            str_i = x
        elif f == 3:
            expect(wt, VARINT, "Label.num")
            num = to_int64(x)
        elif f == 4:
            expect(wt, VARINT, "Label.num_unit")
            unit_i = x
    return Label(
        strings(key, "Label.key"),
        strings(str_i, "Label.str"),
        num,
        strings(unit_i, "Label.num_unit"),
        # As go tool pprof reads it: a label with no string and some number or unit is numeric.
        str_i == 0 and (num != 0 or unit_i != 0),
    )


def decode_profile(data: bytes) -> Profile:
    """Decode an uncompressed ``perftools.profiles.Profile`` message (no validation)."""
    with paused_gc():
        return _decode_profile(data)


def _decode_profile(data: bytes) -> Profile:
    buf = bytes(data)
    p = Profile()
    raw: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 3: [], 4: [], 5: [], 11: []}
    string_table: list[str] = []
    comments: list[int] = []
    scalars = {7: 0, 8: 0, 9: 0, 10: 0, 12: 0, 14: 0, 15: 0}
    for f, wt, a, b in iter_fields(buf, 0, len(buf)):
        if f in raw:
            expect(wt, LEN, f"Profile field {f}")
            raw[f].append((a, b))
        elif f == 6:
            expect(wt, LEN, "Profile.string_table")
            string_table.append(text(buf, a, b, "Profile.string_table"))
        elif f == 13:
            repeated_varints(buf, wt, a, b, comments, "Profile.comment")
        elif f in scalars:
            expect(wt, VARINT, f"Profile field {f}")
            if f == 9 and scalars[9]:
                # Two profiles concatenated (e.g. `cat a.pb b.pb`): go tool pprof refuses it too.
                raise DecodeError(
                    "concatenated profiles detected: time_nanos appears twice; "
                    "merge profiles instead of concatenating them"
                )
            scalars[f] = a
    if not string_table or string_table[0] != "":
        raise DecodeError('malformed profile: string_table[0] must be ""')
    strings = _Strings(string_table)

    p.sample_type = [_value_type(buf, a, b, strings, "Profile.sample_type") for a, b in raw[1]]
    if raw[11]:
        a, b = raw[11][-1]
        p.period_type = _value_type(buf, a, b, strings, "Profile.period_type")
    p.drop_frames = strings(scalars[7], "Profile.drop_frames")
    p.keep_frames = strings(scalars[8], "Profile.keep_frames")
    p.time_nanos = to_int64(scalars[9])
    p.duration_nanos = to_int64(scalars[10])
    p.period = to_int64(scalars[12])
    p.comments = [strings(c, "Profile.comment") for c in comments]
    p.default_sample_type = strings(scalars[14], "Profile.default_sample_type")
    p.doc_url = strings(scalars[15], "Profile.doc_url")

    p.mappings = [_mapping(buf, a, b, strings) for a, b in raw[3]]
    p.functions = [_function(buf, a, b, strings) for a, b in raw[5]]
    mappings = {m.id: m for m in p.mappings}
    functions = {fn.id: fn for fn in p.functions}
    p.locations = [_location(buf, a, b, mappings, functions) for a, b in raw[4]]
    locations = {loc.id: loc for loc in p.locations}
    p.samples = _samples(buf, raw[2], strings, locations)
    return p


def _samples(
    buf: bytes, ranges: list[tuple[int, int]], strings: _Strings, locations: dict[int, Location]
) -> list[Sample]:
    samples = []
    # Encoded → decoded caches: label sets, stacks (one per thread and label set) and values
    # (count × period) repeat across samples.
    label_sets: dict[bytes, tuple[Label, ...]] = {}
    stacks: dict[bytes, list[Location]] = {}
    value_lists: dict[bytes, list[int]] = {}
    for a, b in ranges:
        labels: tuple[Label, ...] | None = None
        fast = _sample_fields(buf, a, b)
        if fast is not None:
            ids_start, ids_end, values_start, values_end, label_start = fast
            if label_start == b:
                labels = ()
            else:
                encoded = buf[label_start:b]
                labels = label_sets.get(encoded)
                if labels is None:
                    labels = _labels_only(buf, label_start, b, strings)
                    if labels is not None:
                        label_sets[encoded] = labels
        if labels is None:
            ids, values, labels = _sample_fields_slow(buf, a, b, strings)
            locs = _resolve(ids, locations)
        else:
            encoded = buf[ids_start:ids_end]
            locs = stacks.get(encoded)
            if locs is None:
                locs = stacks[encoded] = _resolve(
                    unpack_varints(buf, ids_start, ids_end), locations
                )
            locs = list(locs)  # each sample owns its list
            encoded = buf[values_start:values_end]
            values = value_lists.get(encoded)
            if values is None:
                values = value_lists[encoded] = unpack_varints(buf, values_start, values_end)
            values = list(values)
        for v in values:
            if v >= _INT64_SIGN:
                values = [to_int64(v) for v in values]
                break
        samples.append(Sample(locs, values, labels))
    return samples


def _resolve(ids: list[int], locations: dict[int, Location]) -> list[Location]:
    try:
        return [locations[i] for i in ids]
    except KeyError as err:
        raise DecodeError(
            f"a sample references location id {err.args[0]}, which does not exist"
        ) from None


def _sample_fields(buf: bytes, a: int, b: int) -> tuple[int, int, int, int, int] | None:
    """Where the packed location ids, the packed values and the labels of a sample are.

    The fast path for the usual layout (packed ids, packed values, then only labels, as pprof
    writers emit them); None for any other layout, which :func:`_sample_fields_slow` reads.
    """
    pos = a
    ids_start = ids_end = values_start = values_end = a
    if pos < b and buf[pos] == 0x0A:  # location_id, packed
        n, ids_start = read_varint(buf, pos + 1, b)
        pos = ids_end = ids_start + n
        if pos > b:
            raise DecodeError(f"Sample.location_id at byte {a}: length {n} exceeds the sample")
    if pos < b and buf[pos] == 0x12:  # value, packed
        n, values_start = read_varint(buf, pos + 1, b)
        values_end = values_start + n
        if values_end > b:
            raise DecodeError(f"Sample.value at byte {pos}: length {n} exceeds the sample")
        pos = values_end
    if pos >= b or buf[pos] == 0x1A:
        return ids_start, ids_end, values_start, values_end, pos
    return None


def _sample_fields_slow(
    buf: bytes, a: int, b: int, strings: _Strings
) -> tuple[list[int], list[int], tuple[Label, ...]]:
    ids: list[int] = []
    values: list[int] = []
    labels = []
    for f, wt, x, y in iter_fields(buf, a, b):
        if f == 1:
            repeated_varints(buf, wt, x, y, ids, "Sample.location_id")
        elif f == 2:
            repeated_varints(buf, wt, x, y, values, "Sample.value")
        elif f == 3:
            expect(wt, LEN, "Sample.label")
            labels.append(_label(buf, x, y, strings))
    return ids, values, tuple(labels)


def _labels_only(buf: bytes, a: int, b: int, strings: _Strings) -> tuple[Label, ...] | None:
    """The labels in ``buf[a:b]``; None if another sample field is among them (legal, rare)."""
    labels = []
    for f, wt, x, y in iter_fields(buf, a, b):
        if f != 3:
            return None
        expect(wt, LEN, "Sample.label")
        labels.append(_label(buf, x, y, strings))
    return tuple(labels)


def parse(data: bytes) -> Profile:
    """Parse a pprof profile, gzip-compressed or not, and check that it is valid.

    Raises :class:`~.wire.DecodeError` for malformed bytes and
    :class:`~.validate.InvalidProfileError` for a well-formed but invalid profile.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise DecodeError(f"corrupt gzip data: {err}") from None
    profile = decode_profile(data)
    check_valid(profile)
    return profile
