"""Merge profiles: several profiles (e.g. one per OTLP sample type) into one.

Sample types are united in first-seen order; each sample keeps its values in its own types'
slots and zeros elsewhere. Stacks are re-interned by value (through :class:`~.builder.
ProfileBuilder`), so equal stacks with equal labels from different profiles merge.
"""

from __future__ import annotations

from collections.abc import Sequence

from .builder import Frame, LabelValue, ProfileBuilder
from .profile import Location, Profile, ValueType


def _frames(loc: Location) -> list[Frame]:
    """A location as builder frames, innermost first (all but the caller marked inlined)."""
    last = len(loc.lines) - 1
    return [
        Frame(
            ln.function.name,
            ln.function.filename,
            ln.line,
            loc.address,
            loc.mapping,
            ln.function.system_name,
            inlined=i < last,
        )
        for i, ln in enumerate(loc.lines)
    ]


def merge(profiles: Sequence[Profile]) -> Profile:
    """One profile holding the samples of all ``profiles`` (see the module docstring).

    Function start lines, ``is_folded`` and repeated label keys are not kept; equal comments
    are kept once. The period, period type, doc URL and drop/keep frames are the first
    profile's; the time is the earliest, the duration the longest.
    """
    if not profiles:
        raise ValueError("nothing to merge: no profiles")
    if len(profiles) == 1:
        return profiles[0]
    types: list[ValueType] = []
    for p in profiles:
        types.extend(vt for vt in p.sample_type if vt not in types)
    first = profiles[0]
    times = [p.time_nanos for p in profiles if p.time_nanos]
    builder = ProfileBuilder(
        types,
        first.period_type,
        first.period,
        time_nanos=min(times) if times else 0,
        duration_nanos=max(p.duration_nanos for p in profiles),
        # Equal comments once: the OTLP profiles of one pprof profile all carry its comments.
        comments=list(dict.fromkeys(c for p in profiles for c in p.comments)),
        drop_frames=first.drop_frames,
        keep_frames=first.keep_frames,
    )
    frames_of: dict[int, list[Frame]] = {}
    for p in profiles:
        slots = [types.index(vt) for vt in p.sample_type]
        for s in p.samples:
            frames: list[Frame] = []
            for loc in s.locations:
                cached = frames_of.get(id(loc))
                if cached is None:
                    cached = frames_of[id(loc)] = _frames(loc)
                frames.extend(cached)
            values = [0] * len(types)
            for slot, v in zip(slots, s.values, strict=True):
                values[slot] += v
            labels: dict[str, LabelValue] = {}
            for lb in s.labels:
                if not (lb.is_num or lb.num or lb.num_unit):
                    labels[lb.key] = lb.str
                elif lb.num_unit:
                    labels[lb.key] = (lb.num, lb.num_unit)
                else:
                    labels[lb.key] = lb.num
            builder.add_sample(frames, values, labels)
    merged = builder.build()
    merged.doc_url = first.doc_url
    return merged
