"""The pprof profile model (``perftools.profiles``), with friendly fields.

Objects point at objects (a :class:`Sample` holds :class:`Location` objects, a :class:`Line` holds
its :class:`Function`); string-table indices exist only on the wire and are handled by
:mod:`.encode` and :mod:`.decode`. Ids of mappings, locations and functions are part of the model
because pprof requires them (non-zero, unique); :class:`~.builder.ProfileBuilder` assigns them.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import NamedTuple


class ValueType(NamedTuple):
    """What a sample value or the period measures: ``type`` ("cpu") in ``unit`` ("nanoseconds")."""

    type: str
    unit: str


class Label(NamedTuple):
    """A sample label: a string value (``str``) or a number (``num``) with an optional unit.

    ``is_num`` says the label is numeric even when ``num`` is 0 (pprof cannot tell ``num=0``
    from ``str=""`` on the wire; OTLP attributes can, so the builder records it).
    """

    key: str
    str: str = ""
    num: int = 0
    num_unit: str = ""
    is_num: bool = False


@dataclass(eq=False, slots=True)
class Mapping:
    """A mapped binary: runtime address range, file offset, file name and build id.

    ``Mapping(start, limit, offset, filename, build_id)`` is also how callers of the builder
    describe where a frame's address lives.
    """

    start: int = 0
    limit: int = 0
    offset: int = 0
    filename: str = ""
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False
    id: int = 0


@dataclass(eq=False, slots=True)
class Function:
    """A function: display name, system (mangled) name, source file and first line."""

    name: str
    system_name: str = ""
    filename: str = ""
    start_line: int = 0
    id: int = 0


class Line(NamedTuple):
    """One source line of a location: the function and the line number in it."""

    function: Function
    line: int = 0
    column: int = 0


@dataclass(eq=False, slots=True)
class Location:
    """A program counter: its mapping and address, and its source lines.

    ``lines`` are innermost first: several lines mean inlined calls, the last one is the caller
    into which the preceding ones were inlined.
    """

    lines: list[Line] = field(default_factory=list)
    mapping: Mapping | None = None
    address: int = 0
    is_folded: bool = False
    id: int = 0


@dataclass(eq=False, slots=True)
class Sample:
    """One sample: a stack (leaf first), one value per sample type, and labels."""

    locations: list[Location]
    values: list[int]
    labels: tuple[Label, ...] = ()


@dataclass(eq=False)
class Profile:
    """A whole pprof profile. ``encode()`` gives the protobuf bytes, ``write()`` a .pb.gz file."""

    sample_type: list[ValueType] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    mappings: list[Mapping] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    drop_frames: str = ""
    keep_frames: str = ""
    time_nanos: int = 0
    duration_nanos: int = 0
    period_type: ValueType | None = None
    period: int = 0
    comments: list[str] = field(default_factory=list)
    default_sample_type: str = ""
    doc_url: str = ""

    def encode(self) -> bytes:
        """The uncompressed protobuf encoding (deterministic: same profile, same bytes)."""
        from .encode import encode_profile

        return encode_profile(self)

    def write(self, path: str) -> None:
        """Write the profile gzip-compressed, as ``go tool pprof`` expects on disk."""
        # mtime=0 keeps the file deterministic too.
        data = gzip.compress(self.encode(), compresslevel=6, mtime=0)
        with open(path, "wb") as out:
            out.write(data)

    def check_valid(self) -> None:
        """Raise :class:`~.validate.InvalidProfileError` unless ``go tool pprof`` accepts it."""
        from .validate import check_valid

        check_valid(self)

    def total(self, sample_index: int = -1) -> int:
        """The sum of one sample type's values over all samples (the last type by default)."""
        return sum(s.values[sample_index] for s in self.samples)

    def sample_index(self, name: str = "") -> int:
        """The index of sample type ``name`` (or of ``default_sample_type``; else the last)."""
        name = name or self.default_sample_type
        if not name:
            return len(self.sample_type) - 1
        for i, vt in enumerate(self.sample_type):
            if vt.type == name:
                return i
        known = ", ".join(vt.type for vt in self.sample_type)
        raise ValueError(f"no sample type {name!r} in this profile (it has: {known})")
