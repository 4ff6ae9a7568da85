"""A flat/cumulative table per function, like ``go tool pprof -top``, for machines without Go.

Flat is what a function spent itself (it was the innermost frame); cum includes its callees,
counting a function once per sample even if it recurses.
"""

from __future__ import annotations

from typing import NamedTuple

from .profile import Profile


class TopRow(NamedTuple):
    """One function's flat and cumulative totals."""

    name: str
    flat: int
    cum: int


def top_rows(profile: Profile, sample_index: int | None = None) -> tuple[list[TopRow], int]:
    """All functions, by flat then cum (descending), and the total of the sample type."""
    if sample_index is None:
        sample_index = profile.sample_index()
    flat: dict[str, int] = {}
    cum: dict[str, int] = {}
    names_of: dict[int, list[str]] = {}
    total = 0
    for s in profile.samples:
        value = s.values[sample_index]
        if not value:
            continue
        total += value
        seen: set[str] = set()
        for loc in s.locations:
            names = names_of.get(id(loc))
            if names is None:
                names = names_of[id(loc)] = [ln.function.name for ln in loc.lines] or [
                    f"0x{loc.address:x}"
                ]
            seen.update(names)
        if s.locations:
            leaf = names_of[id(s.locations[0])][0]
            flat[leaf] = flat.get(leaf, 0) + value
        for name in seen:
            cum[name] = cum.get(name, 0) + value
    rows = [TopRow(name, flat.get(name, 0), c) for name, c in cum.items()]
    rows.sort(key=lambda r: (-r.flat, -r.cum, r.name))
    return rows, total


_SCALES = {
    "nanoseconds": [(1e9, "s"), (1e6, "ms"), (1e3, "us"), (1, "ns")],
    "microseconds": [(1e6, "s"), (1e3, "ms"), (1, "us")],
    "milliseconds": [(1e3, "s"), (1, "ms")],
    "seconds": [(1, "s")],
    "bytes": [(1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB"), (1, "B")],
}


def format_value(value: int, unit: str) -> str:
    """A value with its unit scaled for reading ("1.50s", "12MB"); plain for counts."""
    scales = _SCALES.get(unit)
    if not scales or value == 0:
        return str(value)
    for factor, suffix in scales:
        if abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    return f"{value}{scales[-1][1]}"


def _percent(part: int, total: int) -> str:
    if not total:
        return "0%"
    pct = 100.0 * part / total
    return "100%" if pct == 100 else f"{pct:.2f}%"


def format_top(profile: Profile, n: int | None = None, sample_index: int | None = None) -> str:
    """The table as text: a header with the total, then ``flat flat% sum% cum cum% name``."""
    if sample_index is None:
        sample_index = profile.sample_index()
    vt = profile.sample_type[sample_index]
    rows, total = top_rows(profile, sample_index)
    shown = rows if n is None else rows[:n]
    shown_flat = sum(r.flat for r in shown)
    fmt = lambda v: format_value(v, vt.unit)  # noqa: E731
    out = [
        f"Type: {vt.type}",
        f"Showing nodes accounting for {fmt(shown_flat)}, {_percent(shown_flat, total)} of "
        f"{fmt(total)} total",
    ]
    if len(shown) < len(rows):
        out.append(f"Showing top {len(shown)} nodes out of {len(rows)}")
    out.append(f"{'flat':>10} {'flat%':>6} {'sum%':>6} {'cum':>10} {'cum%':>6}")
    running = 0
    for r in shown:
        running += r.flat
        out.append(
            f"{fmt(r.flat):>10} {_percent(r.flat, total):>6} {_percent(running, total):>6} "
            f"{fmt(r.cum):>10} {_percent(r.cum, total):>6}  {r.name}"
        )
    return "\n".join(out) + "\n"
