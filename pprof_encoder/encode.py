"""Profile model → pprof protobuf bytes (``perftools.profiles.Profile``).

Strings are interned in one deterministic walk of the model ("" is index 0), so the same profile
always gives the same bytes. Encoded labels and label sets are cached: real profiles repeat the
same few (pid, thread name) over and over.
"""

from __future__ import annotations

from .model import Function, Label, Location, Mapping, ProfileFields, ValueType
from .wire import (
    encode_varint,
    len_field,
    pack_varints,
    packed_field,
    varint_field,
)

# Field keys (field number << 3 | wire type) written often enough to precompute.
_SAMPLE = b"\x12"  # Profile.sample = 2, LEN
_SAMPLE_LOCATIONS = b"\x0a"  # Sample.location_id = 1, packed
_SAMPLE_VALUES = b"\x12"  # Sample.value = 2, packed
_SAMPLE_LABEL = b"\x1a"  # Sample.label = 3, LEN


class StringTable:
    """Interns strings in first-seen order; index 0 is always ""."""

    __slots__ = ("index", "strings")

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, s: str) -> int:
        """The index of ``s``, adding it if new."""
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.strings)
            self.strings.append(s)
        return i


def _value_type(strings: StringTable, vt: ValueType) -> bytes:
    return varint_field(1, strings(vt.type)) + varint_field(2, strings(vt.unit))


def _label(strings: StringTable, label: Label) -> bytes:
    body = varint_field(1, strings(label.key))
    if label.str:
        body += varint_field(2, strings(label.str))
    body += varint_field(3, label.num)
    if label.num_unit:
        body += varint_field(4, strings(label.num_unit))
    return len_field(3, body)


def _mapping(strings: StringTable, m: Mapping) -> bytes:
    return len_field(
        3,
        b"".join(
            (
                varint_field(1, m.id),
                varint_field(2, m.start),
                varint_field(3, m.limit),
                varint_field(4, m.offset),
                varint_field(5, strings(m.filename)),
                varint_field(6, strings(m.build_id)),
                varint_field(7, m.has_functions),
                varint_field(8, m.has_filenames),
                varint_field(9, m.has_line_numbers),
                varint_field(10, m.has_inline_frames),
            )
        ),
    )


def _location(loc: Location) -> bytes:
    parts = [varint_field(1, loc.id)]
    if loc.mapping is not None:
        parts.append(varint_field(2, loc.mapping.id))
    parts.append(varint_field(3, loc.address))
    for ln in loc.lines:
        body = varint_field(1, ln.function.id) + varint_field(2, ln.line)
        parts.append(len_field(4, body + varint_field(3, ln.column)))
    parts.append(varint_field(5, loc.is_folded))
    return len_field(4, b"".join(parts))


def _function(strings: StringTable, f: Function) -> bytes:
    return len_field(
        5,
        varint_field(1, f.id)
        + varint_field(2, strings(f.name))
        + varint_field(3, strings(f.system_name))
        + varint_field(4, strings(f.filename))
        + varint_field(5, f.start_line),
    )


def encode_profile(p: ProfileFields) -> bytes:
    """Encode ``p`` as a ``perftools.profiles.Profile`` message (not compressed)."""
    strings = StringTable()
    # Fields 7..15 (after the string table) hold string indices too. The table is written
    # before them, so their strings must be interned first.
    drop = strings(p.drop_frames)
    keep = strings(p.keep_frames)
    comments = [strings(c) for c in p.comments]
    default_type = strings(p.default_sample_type)
    doc_url = strings(p.doc_url)
    period_type = _value_type(strings, p.period_type) if p.period_type is not None else None

    out = [len_field(1, _value_type(strings, vt)) for vt in p.sample_type]

    small = encode_varint
    label_sets: dict[tuple[Label, ...], bytes] = {}
    encoded_values: dict[tuple[int, ...], bytes] = {}
    for s in p.samples:
        locs = pack_varints([loc.id for loc in s.locations])
        values = tuple(s.values)
        vals = encoded_values.get(values)
        if vals is None:  # count × period: few distinct value lists
            vals = encoded_values[values] = pack_varints(values)
        body = _SAMPLE_LOCATIONS + small(len(locs)) + locs if locs else b""
        if vals:
            body += _SAMPLE_VALUES + small(len(vals)) + vals
        if s.labels:
            encoded = label_sets.get(s.labels)
            if encoded is None:
                encoded = label_sets[s.labels] = b"".join([_label(strings, lb) for lb in s.labels])
            body += encoded
        out.append(_SAMPLE + small(len(body)) + body)

    out.extend(_mapping(strings, m) for m in p.mappings)
    out.extend(_location(loc) for loc in p.locations)
    out.extend(_function(strings, f) for f in p.functions)
    out.extend(len_field(6, s.encode()) for s in strings.strings)
    out.append(varint_field(7, drop))
    out.append(varint_field(8, keep))
    out.append(varint_field(9, p.time_nanos))
    out.append(varint_field(10, p.duration_nanos))
    if period_type is not None:
        out.append(len_field(11, period_type))
    out.append(varint_field(12, p.period))
    out.append(packed_field(13, comments))
    out.append(varint_field(14, default_type))
    out.append(varint_field(15, doc_url))
    return b"".join(out)
