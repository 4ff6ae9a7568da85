"""Split a profile by a key of its samples: e.g. one profile per process (its ``pid`` label).

The parts share the original's locations, functions and mappings (each part lists only those its
samples reach), its sample types, period and times. Each part is a valid profile.

>>> from pprof_encoder import ProfileBuilder
>>> b = ProfileBuilder([("samples", "count")], ("samples", "count"), 1)
>>> b.add_sample(["main"], [2], {"pid": 1})
>>> b.add_sample(["main", "init"], [3], {"pid": 2})
>>> parts = split(b.build(), lambda s: label_value(s, "pid"))
>>> sorted((pid, p.total()) for pid, p in parts.items())
[(1, 2), (2, 3)]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace

from .profile import Function, Location, Mapping, Profile, Sample


def label_value(sample: Sample, key: str) -> str | int | None:
    """The value of label ``key`` of ``sample`` (its string, else its number), or ``None``."""
    for label in sample.labels:
        if label.key == key:
            return label.num if label.is_num else label.str
    return None


def split(profile: Profile, key: Callable[[Sample], Hashable]) -> dict[Hashable, Profile]:
    """One profile per distinct ``key(sample)``, in first-seen order of the keys."""
    groups: dict[Hashable, list[Sample]] = {}
    for sample in profile.samples:
        groups.setdefault(key(sample), []).append(sample)
    return {k: _part(profile, samples) for k, samples in groups.items()}


def _part(profile: Profile, samples: list[Sample]) -> Profile:
    locations: dict[int, Location] = {}
    for sample in samples:
        for loc in sample.locations:
            locations.setdefault(id(loc), loc)
    functions: dict[int, Function] = {}
    mappings: dict[int, Mapping] = {}
    for loc in locations.values():
        if loc.mapping is not None:
            mappings.setdefault(id(loc.mapping), loc.mapping)
        for line in loc.lines:
            functions.setdefault(id(line.function), line.function)
    # Keep the original order (ids stay as they were: unique within the part too).
    order = {id(x): i for i, x in enumerate(profile.locations)}
    order.update({id(x): i for i, x in enumerate(profile.functions)})
    order.update({id(x): i for i, x in enumerate(profile.mappings)})
    return replace(
        profile,
        sample_type=list(profile.sample_type),
        samples=samples,
        locations=sorted(locations.values(), key=lambda x: order.get(id(x), 0)),
        functions=sorted(functions.values(), key=lambda x: order.get(id(x), 0)),
        mappings=sorted(mappings.values(), key=lambda x: order.get(id(x), 0)),
        comments=list(profile.comments),
    )
