"""The messages a pprof profile is made of (``perftools.profiles``), with friendly fields.

Objects point at objects (a :class:`Sample` holds :class:`Location` objects, a :class:`Line` holds
its :class:`Function`); string-table indices exist only on the wire and are handled by
:mod:`.encode` and :mod:`.decode`. Ids of mappings, locations and functions are part of the model
because pprof requires them (non-zero, unique); :class:`~.builder.ProfileBuilder` assigns them.
The whole profile is :class:`~.profile.Profile`; the codecs see it through
:class:`ProfileFields`, so they need not import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


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


class ProfileFields(Protocol):
    """The fields of a whole profile, as the encoder and the validator read them."""

    sample_type: Sequence[ValueType]
    samples: Sequence[Sample]
    mappings: Sequence[Mapping]
    locations: Sequence[Location]
    functions: Sequence[Function]
    drop_frames: str
    keep_frames: str
    time_nanos: int
    duration_nanos: int
    period_type: ValueType | None
    period: int
    comments: Sequence[str]
    default_sample_type: str
    doc_url: str
