"""OpenTelemetry profiles: Profile models ↔ an ``ExportProfilesServiceRequest``.

The layout is that of opentelemetry-proto v1.10.0 (package
``opentelemetry.proto.profiles.v1development``), which PyPI ``opentelemetry-proto`` 1.45
decodes. One request holds one or more resources, each with its attributes and profiles, and a
single ``ProfilesDictionary`` shared by all of them, whose tables (mappings, locations,
functions, links, strings, attributes, stacks) all start with the zero value.

OTLP's ``Profile`` has one sample type, so a pprof profile with several sample types becomes
several OTLP profiles (same stacks, one value each). Sample labels become attributes
(``KeyValueAndUnit`` in the attribute table); a mapping's build id becomes the attribute
:data:`BUILD_ID_ATTRIBUTE`. The profile's comments, doc URL and drop/keep frames become the
profile attributes of OpenTelemetry's ``pprof`` semantic conventions (:data:`COMMENT_ATTRIBUTE`
and its siblings) and come back on decoding. Not carried over: ``is_folded``,
``default_sample_type`` and the mapping's has_* flags.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field

from .encode import StringTable
from .gc_pause import paused_gc
from .profile import Function, Label, Line, Location, Mapping, Profile, Sample, ValueType
from .validate import check_valid
from .wire import (
    FIXED64,
    LEN,
    VARINT,
    DecodeError,
    encode_varint,
    expect,
    fixed64_field,
    iter_fields,
    len_field,
    packed_field,
    read_varint,
    repeated_varints,
    string_field,
    text,
    to_int64,
    unpack_varints,
    varint_field,
)

OTLP_PROTO_VERSION = "1.10.0"
"""The opentelemetry-proto release whose profiles layout we emit."""
OTLP_PROTO_PACKAGE = "opentelemetry.proto.profiles.v1development"
"""The protobuf package of the messages we emit."""
BUILD_ID_ATTRIBUTE = "process.executable.build_id.gnu"
"""Mapping attribute that carries a pprof mapping's build id."""
COMMENT_ATTRIBUTE = "pprof.profile.comment"
"""Profile attribute (a string array) that carries a pprof profile's comments."""
# Profile attributes of the other pprof fields OTLP has no place for (semantic conventions).
DOC_URL_ATTRIBUTE = "pprof.profile.doc_url"
DROP_FRAMES_ATTRIBUTE = "pprof.profile.drop_frames"
KEEP_FRAMES_ATTRIBUTE = "pprof.profile.keep_frames"

AttributeValue = str | bool | int | float | bytes | tuple
"""An attribute's value; a tuple is an array of such values."""
_DOUBLE = struct.Struct("<d")


@dataclass
class ResourceProfiles:
    """The profiles of one resource (a process, a container, a node) and its attributes."""

    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    profiles: list[Profile] = field(default_factory=list)
    scope_name: str = "pureprof"
    scope_version: str = ""


# Encoding ------------------------------------------------------------------------------------


def _any_value(value: AttributeValue) -> bytes:
    """An ``AnyValue`` message (written even for zero values: the oneof must be set)."""
    if isinstance(value, str):
        return len_field(1, value.encode())
    if isinstance(value, bool):
        return b"\x10" + encode_varint(int(value))
    if isinstance(value, int):
        return b"\x18" + encode_varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return len_field(7, value)
    if isinstance(value, tuple | list):  # ArrayValue{values = 1}
        return len_field(5, b"".join(len_field(1, _any_value(v)) for v in value))
    raise TypeError(
        f"attribute value must be str, bool, int, float, bytes or a tuple, not {value!r}"
    )


class _Table:
    """A dictionary table: encoded entries interned by their bytes; entry 0 is the zero value."""

    __slots__ = ("entries", "index")

    def __init__(self) -> None:
        self.entries: list[bytes] = [b""]
        self.index: dict[bytes, int] = {b"": 0}

    def __call__(self, entry: bytes) -> int:
        i = self.index.get(entry)
        if i is None:
            i = self.index[entry] = len(self.entries)
            self.entries.append(entry)
        return i


class _DictionaryBuilder:
    """Builds the request's one ``ProfilesDictionary`` while its profiles are encoded."""

    def __init__(self) -> None:
        self.strings = StringTable()
        self.mappings = _Table()
        self.locations = _Table()
        self.functions = _Table()
        self.attributes = _Table()
        self.stacks: dict[tuple[int, ...], int] = {(): 0}
        self.stack_entries: list[bytes] = [b""]

    def attribute(self, key: str, value: AttributeValue, unit: str = "") -> int:
        s = self.strings
        body = varint_field(1, s(key)) + len_field(2, _any_value(value)) + varint_field(3, s(unit))
        return self.attributes(body)

    def label(self, label: Label) -> int:
        if label.is_num or label.num or label.num_unit:
            return self.attribute(label.key, label.num, label.num_unit)
        return self.attribute(label.key, label.str)

    def mapping(self, m: Mapping) -> int:
        attrs = [self.attribute(BUILD_ID_ATTRIBUTE, m.build_id)] if m.build_id else []
        body = (
            varint_field(1, m.start)
            + varint_field(2, m.limit)
            + varint_field(3, m.offset)
            + varint_field(4, self.strings(m.filename))
            + packed_field(5, attrs)
        )
        return self.mappings(body)

    def function(self, f: Function) -> int:
        s = self.strings
        body = (
            varint_field(1, s(f.name))
            + varint_field(2, s(f.system_name))
            + varint_field(3, s(f.filename))
            + varint_field(4, f.start_line)
        )
        return self.functions(body)

    def stack(self, location_indices: tuple[int, ...]) -> int:
        i = self.stacks.get(location_indices)
        if i is None:
            i = self.stacks[location_indices] = len(self.stack_entries)
            self.stack_entries.append(packed_field(1, location_indices))
        return i

    def encode(self) -> bytes:
        parts = [len_field(1, e) for e in self.mappings.entries]
        parts += [len_field(2, e) for e in self.locations.entries]
        parts += [len_field(3, e) for e in self.functions.entries]
        parts.append(len_field(4, b""))  # link_table: only the zero link
        parts += [len_field(5, s.encode()) for s in self.strings.strings]
        parts += [len_field(6, e) for e in self.attributes.entries]
        parts += [len_field(7, e) for e in self.stack_entries]
        return b"".join(parts)


def _encode_profiles(p: Profile, d: _DictionaryBuilder) -> list[bytes]:
    """One encoded OTLP ``Profile`` per sample type of ``p``."""
    mapping_index = {id(m): d.mapping(m) for m in p.mappings}
    function_index = {id(f): d.function(f) for f in p.functions}
    location_index: dict[Location, int] = {}  # Locations hash by identity
    for loc in p.locations:
        body = b""
        if loc.mapping is not None:
            body = varint_field(1, mapping_index[id(loc.mapping)])
        body += varint_field(2, loc.address)
        for ln in loc.lines:
            line = (
                varint_field(1, function_index[id(ln.function)])
                + varint_field(2, ln.line)
                + varint_field(3, ln.column)
            )
            body += len_field(3, line)
        location_index[loc] = d.locations(body)

    # Stacks and attribute lists are shared by all sample types: compute them once.
    label_sets: dict[tuple[Label, ...], bytes] = {}
    heads: list[bytes] = []
    location_of = location_index.__getitem__
    for s in p.samples:
        stack = d.stack(tuple(map(location_of, s.locations)))
        head = varint_field(1, stack)
        if s.labels:
            attrs = label_sets.get(s.labels)
            if attrs is None:
                attrs = label_sets[s.labels] = packed_field(2, [d.label(lb) for lb in s.labels])
            head += attrs
        heads.append(head)

    profile_attributes = packed_field(11, [d.attribute(k, v) for k, v in _pprof_attributes(p)])
    period_type = b""
    if p.period_type is not None:
        period_type = len_field(
            5,
            varint_field(1, d.strings(p.period_type.type))
            + varint_field(2, d.strings(p.period_type.unit)),
        )
    out = []
    for t, vt in enumerate(p.sample_type):
        sample_type = varint_field(1, d.strings(vt.type)) + varint_field(2, d.strings(vt.unit))
        parts = [len_field(1, sample_type)]
        small = encode_varint
        encoded_values: dict[int, bytes] = {}  # count × period: few distinct values
        for head, s in zip(heads, p.samples, strict=True):
            # Zero values are written too: every OTLP sample carries one value per sample type.
            value = s.values[t]
            field = encoded_values.get(value)
            if field is None:
                encoded = small(value)
                field = encoded_values[value] = b"\x22" + small(len(encoded)) + encoded
            body = head + field
            parts.append(b"\x12" + small(len(body)) + body)
        parts.append(fixed64_field(3, p.time_nanos))
        parts.append(varint_field(4, p.duration_nanos))
        parts.append(period_type)
        parts.append(varint_field(6, p.period))
        parts.append(profile_attributes)
        body = b"".join(parts)
        # A deterministic, content-derived id: the same profile always gets the same id.
        import hashlib  # here, not at import: hashlib loads OpenSSL (3 MB of our RSS)

        profile_id = hashlib.blake2b(body, digest_size=16).digest()
        out.append(body + len_field(7, profile_id))
    return out


def _pprof_attributes(p: Profile) -> list[tuple[str, AttributeValue]]:
    """The profile attributes that keep what OTLP has no field for (comments, doc URL, ...)."""
    out: list[tuple[str, AttributeValue]] = []
    if p.comments:
        out.append((COMMENT_ATTRIBUTE, tuple(p.comments)))
    for key, value in (
        (DOC_URL_ATTRIBUTE, p.doc_url),
        (DROP_FRAMES_ATTRIBUTE, p.drop_frames),
        (KEEP_FRAMES_ATTRIBUTE, p.keep_frames),
    ):
        if value:
            out.append((key, value))
    return out


def _key_value(key: str, value: AttributeValue) -> bytes:
    return len_field(1, key.encode()) + len_field(2, _any_value(value))


def encode_request(resources: Sequence[ResourceProfiles]) -> bytes:
    """Encode an ``ExportProfilesServiceRequest`` (not compressed) for ``resources``."""
    d = _DictionaryBuilder()
    out = []
    for r in resources:
        resource = b"".join(len_field(1, _key_value(k, v)) for k, v in sorted(r.attributes.items()))
        scope = string_field(1, r.scope_name) + string_field(2, r.scope_version)
        profiles = b"".join(
            len_field(2, body) for p in r.profiles for body in _encode_profiles(p, d)
        )
        scope_profiles = len_field(1, scope) + profiles
        out.append(len_field(1, len_field(1, resource) + len_field(2, scope_profiles)))
    out.append(len_field(2, d.encode()))
    return b"".join(out)


def profile_to_otlp(
    profile: Profile,
    resource_attributes: MappingABC[str, AttributeValue] | None = None,
    scope_name: str = "pureprof",
    scope_version: str = "",
) -> bytes:
    """One pprof profile as an ``ExportProfilesServiceRequest`` with one resource."""
    resource = ResourceProfiles(
        dict(resource_attributes or {}), [profile], scope_name, scope_version
    )
    return encode_request([resource])


# Decoding ------------------------------------------------------------------------------------


def _index(table: list, i: int, what: str, table_name: str):
    if i >= len(table):
        raise DecodeError(f"{what} {i} out of range ({table_name} has {len(table)} entries)")
    return table[i]


def _any_value_decode(buf: bytes, a: int, b: int, strings: list[str]) -> AttributeValue:
    value: AttributeValue = ""
    for f, wt, x, y in iter_fields(buf, a, b):
        if f == 1:
            expect(wt, LEN, "AnyValue.string_value")
            value = text(buf, x, y, "AnyValue.string_value")
        elif f == 2:
            expect(wt, VARINT, "AnyValue.bool_value")
            value = bool(x)
        elif f == 3:
            expect(wt, VARINT, "AnyValue.int_value")
            value = to_int64(x)
        elif f == 4:
            expect(wt, FIXED64, "AnyValue.double_value")
            value = _DOUBLE.unpack(struct.pack("<Q", x))[0]
        elif f == 5:
            expect(wt, LEN, "AnyValue.array_value")
            value = tuple(
                _any_value_decode(buf, vx, vy, strings)
                for vx, vy in _ranges(_messages(buf, x, y), 1, "ArrayValue.values")
            )
        elif f == 7:
            expect(wt, LEN, "AnyValue.bytes_value")
            value = buf[x:y]
        elif f == 8:  # string_value_strindex (newer layouts)
            expect(wt, VARINT, "AnyValue.string_value_strindex")
            value = _index(strings, x, "AnyValue.string_value_strindex", "string_table")
    return value


def _messages(buf: bytes, a: int, b: int) -> dict[int, list]:
    """The fields of ``buf[a:b]`` by number, each a list of ``(wire_type, a, b)``."""
    fields: dict[int, list] = {}
    for f, wt, x, y in iter_fields(buf, a, b):
        fields.setdefault(f, []).append((wt, x, y))
    return fields


def _ints(buf: bytes, fields: dict[int, list], f: int, what: str) -> list[int]:
    out: list[int] = []
    for wt, x, y in fields.get(f, ()):
        repeated_varints(buf, wt, x, y, out, what)
    return out


def _one_int(fields: dict[int, list], f: int, what: str, wire_type: int = VARINT) -> int:
    entries = fields.get(f)
    if not entries:
        return 0
    wt, x, _ = entries[-1]
    expect(wt, wire_type, what)
    return x


def _ranges(fields: dict[int, list], f: int, what: str) -> list[tuple[int, int]]:
    out = []
    for wt, x, y in fields.get(f, ()):
        expect(wt, LEN, what)
        out.append((x, y))
    return out


@dataclass
class _Dictionary:
    strings: list[str]
    mappings: list[tuple]
    locations: list[tuple]
    functions: list[tuple]
    attributes: list[tuple[str, AttributeValue, str]]
    stacks: list[list[int]]


def _decode_dictionary(buf: bytes, a: int, b: int) -> _Dictionary:
    fields = _messages(buf, a, b)
    strings = [text(buf, x, y, "string_table") for x, y in _ranges(fields, 5, "string_table")]
    if not strings or strings[0] != "":
        raise DecodeError('malformed dictionary: string_table[0] must be ""')

    def s(i: int, what: str) -> str:
        return _index(strings, i, what, "string_table")

    attributes = []
    for x, y in _ranges(fields, 6, "attribute_table"):
        f = _messages(buf, x, y)
        value: AttributeValue = ""
        for vx, vy in _ranges(f, 2, "KeyValueAndUnit.value"):
            value = _any_value_decode(buf, vx, vy, strings)
        key = s(_one_int(f, 1, "KeyValueAndUnit.key_strindex"), "KeyValueAndUnit.key_strindex")
        unit = s(_one_int(f, 3, "KeyValueAndUnit.unit_strindex"), "KeyValueAndUnit.unit_strindex")
        attributes.append((key, value, unit))

    mappings = []
    for x, y in _ranges(fields, 1, "mapping_table"):
        f = _messages(buf, x, y)
        build_id = ""
        for ai in _ints(buf, f, 5, "Mapping.attribute_indices"):
            key, value, _ = _index(attributes, ai, "Mapping.attribute_indices", "attribute_table")
            if key == BUILD_ID_ATTRIBUTE and isinstance(value, str):
                build_id = value
        mappings.append(
            (
                _one_int(f, 1, "Mapping.memory_start"),
                _one_int(f, 2, "Mapping.memory_limit"),
                _one_int(f, 3, "Mapping.file_offset"),
                s(_one_int(f, 4, "Mapping.filename_strindex"), "Mapping.filename_strindex"),
                build_id,
            )
        )

    functions = []
    for x, y in _ranges(fields, 3, "function_table"):
        f = _messages(buf, x, y)
        functions.append(
            (
                s(_one_int(f, 1, "Function.name_strindex"), "Function.name_strindex"),
                s(_one_int(f, 2, "Function.system_name_strindex"), "Function.system_name_strindex"),
                s(_one_int(f, 3, "Function.filename_strindex"), "Function.filename_strindex"),
                to_int64(_one_int(f, 4, "Function.start_line")),
            )
        )

    locations = []
    for x, y in _ranges(fields, 2, "location_table"):
        f = _messages(buf, x, y)
        mapping_i = _one_int(f, 1, "Location.mapping_index")
        _index(mappings, mapping_i, "Location.mapping_index", "mapping_table")
        lines = []
        for lx, ly in _ranges(f, 3, "Location.lines"):
            lf = _messages(buf, lx, ly)
            fi = _one_int(lf, 1, "Line.function_index")
            _index(functions, fi, "Line.function_index", "function_table")
            lines.append(
                (fi, to_int64(_one_int(lf, 2, "Line.line")), _one_int(lf, 3, "Line.column"))
            )
        locations.append((mapping_i, _one_int(f, 2, "Location.address"), tuple(lines)))

    stacks = []
    for x, y in _ranges(fields, 7, "stack_table"):
        if buf[x : x + 1] == b"\x0a" and x + 1 < y:  # the usual layout: one packed run
            n, start = read_varint(buf, x + 1, y)
            indices = unpack_varints(buf, start, start + n) if start + n == y else None
        else:
            indices = None
        if indices is None:
            indices = _ints(buf, _messages(buf, x, y), 1, "Stack.location_indices")
        if indices and max(indices) >= len(locations):
            _index(locations, max(indices), "Stack.location_indices", "location_table")
        stacks.append(indices)
    # Tables may be empty in a request without samples; references into them are checked above.
    return _Dictionary(strings, mappings, locations, functions, attributes, stacks)


class _ProfileMaterializer:
    """Turns dictionary indices into one profile's model objects (ids in first-use order)."""

    def __init__(self, d: _Dictionary, profile: Profile) -> None:
        self.d = d
        self.p = profile
        self.mappings: dict[int, Mapping] = {}
        self.functions: dict[int, Function] = {}
        self.locations: dict[int, Location] = {}

    def mapping(self, i: int) -> Mapping | None:
        if i == 0:
            return None
        m = self.mappings.get(i)
        if m is None:
            start, limit, offset, filename, build_id = self.d.mappings[i]
            m = Mapping(start, limit, offset, filename, build_id, id=len(self.mappings) + 1)
            self.mappings[i] = m
            self.p.mappings.append(m)
        return m

    def function(self, i: int) -> Function:
        fn = self.functions.get(i)
        if fn is None:
            name, system_name, filename, start_line = self.d.functions[i]
            fn = Function(name, system_name, filename, start_line, len(self.functions) + 1)
            self.functions[i] = fn
            self.p.functions.append(fn)
        return fn

    def location(self, i: int) -> Location:
        loc = self.locations.get(i)
        if loc is None:
            mapping_i, address, lines = self.d.locations[i]
            loc = Location(
                [Line(self.function(fi), line, column) for fi, line, column in lines],
                self.mapping(mapping_i),
                address,
                id=len(self.locations) + 1,
            )
            self.locations[i] = loc
            self.p.locations.append(loc)
        return loc


def _value_type(buf: bytes, a: int, b: int, strings: list[str], what: str) -> ValueType:
    f = _messages(buf, a, b)
    t = _index(strings, _one_int(f, 1, f"{what}.type_strindex"), what, "string_table")
    u = _index(strings, _one_int(f, 2, f"{what}.unit_strindex"), what, "string_table")
    return ValueType(t, u)


def _decode_profile(buf: bytes, a: int, b: int, d: _Dictionary) -> Profile:
    f = _messages(buf, a, b)
    p = Profile()
    for x, y in _ranges(f, 1, "Profile.sample_type"):
        p.sample_type = [_value_type(buf, x, y, d.strings, "Profile.sample_type")]
    if not p.sample_type:
        p.sample_type = [ValueType("", "")]
    for x, y in _ranges(f, 5, "Profile.period_type"):
        p.period_type = _value_type(buf, x, y, d.strings, "Profile.period_type")
    p.time_nanos = _one_int(f, 3, "Profile.time_unix_nano", FIXED64)
    p.duration_nanos = _one_int(f, 4, "Profile.duration_nano")
    p.period = to_int64(_one_int(f, 6, "Profile.period"))
    for ai in _ints(buf, f, 11, "Profile.attribute_indices"):
        key, value, _ = _index(d.attributes, ai, "Profile.attribute_indices", "attribute_table")
        if key == COMMENT_ATTRIBUTE and isinstance(value, tuple):
            p.comments = [c for c in value if isinstance(c, str)]
        elif isinstance(value, str):
            if key == DOC_URL_ATTRIBUTE:
                p.doc_url = value
            elif key == DROP_FRAMES_ATTRIBUTE:
                p.drop_frames = value
            elif key == KEEP_FRAMES_ATTRIBUTE:
                p.keep_frames = value
    m = _ProfileMaterializer(d, p)
    known_location = m.locations.get
    label_sets: dict[bytes, tuple[Label, ...]] = {}
    for x, y in _ranges(f, 2, "Profile.samples"):
        fast = _sample_fast(buf, x, y)
        if fast is None:
            stack_i, attr_indices, values = _sample_slow(buf, x, y)
            labels = _labels(d, attr_indices)
        else:
            stack_i, attrs, values = fast
            labels = label_sets.get(attrs)
            if labels is None:
                labels = label_sets[attrs] = _labels(d, unpack_varints(attrs, 0, len(attrs)))
        stack = _index(d.stacks, stack_i, "Sample.stack_index", "stack_table")
        locations = list(map(known_location, stack))
        if None in locations:
            locations = [m.location(li) for li in stack]
        if len(values) == 1 and values[0] < _INT64_SIGN:
            total = values[0]
        else:  # several values (with timestamps) add up; int64 on the wire
            total = sum(to_int64(v) for v in values)
        p.samples.append(Sample(locations, [total], labels))
    return p


_INT64_SIGN = 1 << 63


def _sample_fast(buf: bytes, a: int, b: int) -> tuple[int, bytes, list[int]] | None:
    """Stack index, packed attribute indices and values of the usual sample layout, else None."""
    pos = a
    stack_i = 0
    attrs = b""
    values: list[int] = []
    if pos < b and buf[pos] == 0x08:  # stack_index
        stack_i, pos = read_varint(buf, pos + 1, b)
    if pos < b and buf[pos] == 0x12:  # attribute_indices, packed
        n, start = read_varint(buf, pos + 1, b)
        pos = start + n
        if pos > b:
            raise DecodeError(f"Sample.attribute_indices at byte {start}: length {n} too long")
        attrs = buf[start:pos]
    if pos < b and buf[pos] == 0x22:  # values, packed
        n, start = read_varint(buf, pos + 1, b)
        pos = start + n
        if pos > b:
            raise DecodeError(f"Sample.values at byte {start}: length {n} too long")
        values = unpack_varints(buf, start, pos)
    return (stack_i, attrs, values) if pos == b else None


def _sample_slow(buf: bytes, a: int, b: int) -> tuple[int, list[int], list[int]]:
    stack_i = 0
    attr_indices: list[int] = []
    values: list[int] = []
    for g, wt, u, v in iter_fields(buf, a, b):
        if g == 1:
            expect(wt, VARINT, "Sample.stack_index")
            stack_i = u
        elif g == 2:
            repeated_varints(buf, wt, u, v, attr_indices, "Sample.attribute_indices")
        elif g == 4:
            repeated_varints(buf, wt, u, v, values, "Sample.values")
    return stack_i, attr_indices, values


def _labels(d: _Dictionary, indices: list[int]) -> tuple[Label, ...]:
    out = []
    for i in indices:
        key, value, unit = _index(d.attributes, i, "Sample.attribute_indices", "attribute_table")
        if isinstance(value, bool | int):
            out.append(Label(key, num=int(value), num_unit=unit, is_num=True))
        else:
            out.append(Label(key, str=value if isinstance(value, str) else repr(value)))
    return tuple(out)


def _key_values(buf: bytes, a: int, b: int, strings: list[str]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for f, wt, x, y in iter_fields(buf, a, b):
        if f != 1:
            continue
        expect(wt, LEN, "attributes")
        kv = _messages(buf, x, y)
        keys = _ranges(kv, 1, "KeyValue.key")
        key = text(buf, *keys[-1], "KeyValue.key") if keys else ""
        value: AttributeValue = ""
        for vx, vy in _ranges(kv, 2, "KeyValue.value"):
            value = _any_value_decode(buf, vx, vy, strings)
        out[key] = value
    return out


def decode_request(data: bytes) -> list[ResourceProfiles]:
    """Decode an ``ExportProfilesServiceRequest`` into resources holding Profile models.

    Each OTLP profile becomes a :class:`~.profile.Profile` with one sample type; attributes
    become labels. Malformed input raises :class:`~.wire.DecodeError`.
    """
    with paused_gc():
        return _decode_request(bytes(data))


def _decode_request(buf: bytes) -> list[ResourceProfiles]:
    top = _messages(buf, 0, len(buf))
    dictionaries = _ranges(top, 2, "ExportProfilesServiceRequest.dictionary")
    if dictionaries:
        d = _decode_dictionary(buf, *dictionaries[-1])
    else:
        d = _Dictionary([""], [()], [(0, 0, ())], [("", "", "", 0)], [("", "", "")], [[]])
    out = []
    for x, y in _ranges(top, 1, "resource_profiles"):
        rp = _messages(buf, x, y)
        r = ResourceProfiles(scope_name="")
        for rx, ry in _ranges(rp, 1, "ResourceProfiles.resource"):
            r.attributes = _key_values(buf, rx, ry, d.strings)
        for sx, sy in _ranges(rp, 2, "ResourceProfiles.scope_profiles"):
            sp = _messages(buf, sx, sy)
            for cx, cy in _ranges(sp, 1, "ScopeProfiles.scope"):
                scope = _messages(buf, cx, cy)
                for nx, ny in _ranges(scope, 1, "InstrumentationScope.name"):
                    r.scope_name = text(buf, nx, ny, "InstrumentationScope.name")
                for vx, vy in _ranges(scope, 2, "InstrumentationScope.version"):
                    r.scope_version = text(buf, vx, vy, "InstrumentationScope.version")
            for px, py in _ranges(sp, 2, "ScopeProfiles.profiles"):
                profile = _decode_profile(buf, px, py, d)
                check_valid(profile)
                r.profiles.append(profile)
        out.append(r)
    return out
