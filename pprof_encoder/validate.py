"""``check_valid``: the structural rules ``go tool pprof`` enforces on a profile.

Run after every parse and before every write you want to be sure of. Each failure names the
object and the rule, e.g. "location 7 references function 3, which is not in the profile".
"""

from __future__ import annotations

from .model import ProfileFields


class InvalidProfileError(ValueError):
    """A well-formed profile that breaks one of pprof's rules."""


def _unique_ids(kind: str, objects: list) -> dict[int, object]:
    by_id: dict[int, object] = {}
    for obj in objects:
        if obj.id == 0:
            raise InvalidProfileError(f"found {kind} with reserved id 0")
        if obj.id in by_id:
            raise InvalidProfileError(f"multiple {kind}s with the same id {obj.id}")
        by_id[obj.id] = obj
    return by_id


def check_valid(p: ProfileFields) -> None:
    """Raise :class:`InvalidProfileError` unless ``p`` obeys pprof's rules.

    Ids of mappings, locations and functions are non-zero and unique; every referenced object is
    in the profile's tables; every sample has exactly one value per sample type; label keys are
    not empty; the default sample type, when set, is one of the sample types.
    """
    n_types = len(p.sample_type)
    if n_types == 0 and p.samples:
        raise InvalidProfileError("missing sample type information: samples but no sample_type")
    mappings = _unique_ids("mapping", p.mappings)
    functions = _unique_ids("function", p.functions)
    locations = _unique_ids("location", p.locations)
    for loc in p.locations:
        m = loc.mapping
        if m is not None and mappings.get(m.id) is not m:
            raise InvalidProfileError(
                f"location {loc.id} references mapping {m.id}, which is not in the profile"
            )
        for ln in loc.lines:
            fn = ln.function
            if fn is None:
                raise InvalidProfileError(f"location {loc.id} has a line with no function")
            if functions.get(fn.id) is not fn:
                raise InvalidProfileError(
                    f"location {loc.id} references function {fn.id}, which is not in the profile"
                )
    in_table = set(locations.values())  # Locations hash by identity
    seen_label_sets: set[int] = set()
    for i, s in enumerate(p.samples):
        if len(s.values) != n_types:
            raise InvalidProfileError(
                f"sample {i} has {len(s.values)} values but the profile has {n_types} sample types"
            )
        if not in_table.issuperset(s.locations):
            loc = next(loc for loc in s.locations if loc not in in_table)
            where = "a missing location" if loc is None else f"location {loc.id}"
            raise InvalidProfileError(f"sample {i} references {where}, not in the profile")
        # Label tuples are shared between samples: check each distinct one once.
        if s.labels and id(s.labels) not in seen_label_sets:
            seen_label_sets.add(id(s.labels))
            for label in s.labels:
                if not label.key:
                    raise InvalidProfileError(f"sample {i} has a label with an empty key")
    if p.default_sample_type and all(vt.type != p.default_sample_type for vt in p.sample_type):
        raise InvalidProfileError(
            f"default_sample_type {p.default_sample_type!r} is not one of the sample types"
        )
