"""pprof_encoder: hand-rolled protobuf for pprof and OTLP profiles, pure standard library.

Build a profile sample by sample, write it as gzip-compressed pprof, parse it back, validate it,
or turn it into an OpenTelemetry ``ExportProfilesServiceRequest``:

>>> from pprof_encoder import Frame, ProfileBuilder, parse
>>> b = ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 10)
>>> b.add_sample([Frame("leaf", "a.c", 3), "main"], [1, 10], {"pid": 42})
>>> parse(b.encode()).total()
10
>>> from pprof_encoder.otlp import profile_to_otlp
>>> request = profile_to_otlp(b.build(), {"service.name": "demo"})

Layers (one concern each): :mod:`.wire` (protobuf wire format), :mod:`.profile` (the model),
:mod:`.encode`/:mod:`.decode` (model ↔ pprof bytes), :mod:`.validate` (pprof's rules),
:mod:`.builder`, :mod:`.otlp` (OTLP profiles), :mod:`.folded` (collapsed stacks), :mod:`.top`.
The names below are imported on first use: ``import pprof_encoder.names`` costs nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .builder import Frame, ProfileBuilder
    from .decode import decode_profile, parse
    from .profile import Function, Label, Line, Location, Mapping, Profile, Sample, ValueType
    from .validate import InvalidProfileError, check_valid
    from .wire import DecodeError

_WHERE = {
    "DecodeError": "wire",
    "Frame": "builder",
    "Function": "profile",
    "InvalidProfileError": "validate",
    "Label": "profile",
    "Line": "profile",
    "Location": "profile",
    "Mapping": "profile",
    "Profile": "profile",
    "ProfileBuilder": "builder",
    "Sample": "profile",
    "ValueType": "profile",
    "check_valid": "validate",
    "decode_profile": "decode",
    "parse": "decode",
}

__all__ = [
    "DecodeError",
    "Frame",
    "Function",
    "InvalidProfileError",
    "Label",
    "Line",
    "Location",
    "Mapping",
    "Profile",
    "ProfileBuilder",
    "Sample",
    "ValueType",
    "check_valid",
    "decode_profile",
    "parse",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pprof_encoder' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
