"""The pprof profile (``perftools.profiles.Profile``): its messages, and what a profile does.

The messages (:class:`Sample`, :class:`Location`, :class:`Function`...) are in :mod:`.model` and
re-exported here; :class:`Profile` adds ``encode()``, ``write()`` and ``check_valid()``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from .encode import encode_profile
from .model import Function, Label, Line, Location, Mapping, Sample, ValueType
from .validate import check_valid

__all__ = ["Function", "Label", "Line", "Location", "Mapping", "Profile", "Sample", "ValueType"]


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
        return encode_profile(self)

    def write(self, path: str) -> None:
        """Write the profile gzip-compressed, as ``go tool pprof`` expects on disk."""
        # mtime=0 keeps the file deterministic too.
        data = gzip.compress(self.encode(), compresslevel=6, mtime=0)
        with open(path, "wb") as out:
            out.write(data)

    def check_valid(self) -> None:
        """Raise :class:`~.validate.InvalidProfileError` unless ``go tool pprof`` accepts it."""
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
