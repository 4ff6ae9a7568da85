"""The top table of a profile: self and total per function, with whose code it is.

A row is a function *of a process and a library* (perf report's ``comm, dso, sym``), so in a
whole-machine profile two programs' ``_PyEval_EvalFrameDefault`` are two rows, and a kernel
function is marked ``[k]`` (user code ``[.]``, as perf does). Self (flat) counts the samples a
function was the innermost frame of; total (cum) the samples it appears in, once per sample
even when it recurses.

Counts are kept per key in a :class:`Tally`, which adds up: the live ``top`` keeps one tally per
refresh and sums the last few (a window) or all of them.

```python
from profiler.output.top_table import Tally, format_top_table
tally = Tally.of(pprof_profile)                # a pprof_encoder Profile (samples/count first)
print(format_top_table(tally.rows(), tally.total, 10))
```
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from pprof_encoder.profile import Location, Profile

from .frame_kinds import KERNEL, classify

KERNEL_WHERE = "kernel"
WHERE_HEADER = "process (library)"


class RowKey(NamedTuple):
    """What a row is of: ``function`` in ``library`` (a file name; ``kernel`` for the kernel;
    empty when unknown) run by ``process`` (empty when the profile does not say)."""

    function: str
    process: str
    library: str
    kernel: bool

    @property
    def where(self) -> str:
        """``process`` for its own executable, ``process (library)`` for a library or the
        kernel, the library alone when the process is unknown."""
        lib = self.library
        if not self.process:
            return lib
        if not lib or _is_own_executable(self.process, lib):
            return self.process
        return f"{self.process} ({lib})"

    @property
    def marker(self) -> str:
        """perf's marker: ``[k]`` kernel, ``[.]`` user."""
        return "[k]" if self.kernel else "[.]"


def _is_own_executable(process: str, library: str) -> bool:
    # A process name is the kernel's comm (at most 15 characters) or the executable's name.
    return library == process or (len(process) >= 15 and library.startswith(process))


class TopRow(NamedTuple):
    """One row: its key, self and total counts."""

    key: RowKey
    flat: int
    cum: int


@dataclass
class Tally:
    """Self and total counts per :class:`RowKey`, and the total of the sample type; tallies of
    disjoint sets of samples add up (:meth:`add`)."""

    counts: dict[RowKey, list[int]] = field(default_factory=dict)  # key -> [flat, cum]
    total: int = 0

    @classmethod
    def of(cls, profile: Profile, sample_index: int = 0) -> Tally:
        """The tally of one sample type of ``profile`` (index 0: samples/count in ours)."""
        tally = cls()
        counts = tally.counts
        lines_of: dict[int, list[tuple[str, str, bool]]] = {}
        for s in profile.samples:
            value = s.values[sample_index]
            if not value or not s.locations:
                continue
            tally.total += value
            process = ""
            for lb in s.labels:
                if lb.key == "process_name" and not lb.is_num:
                    process = lb.str
                    break
            seen: set[RowKey] = set()
            leaf: RowKey | None = None
            for loc in s.locations:
                lines = lines_of.get(id(loc))
                if lines is None:
                    lines = lines_of[id(loc)] = _location_lines(loc)
                for name, library, kernel in lines:
                    key = RowKey(name, process, library, kernel)
                    if leaf is None:
                        leaf = key
                    seen.add(key)
            for key in seen:
                entry = counts.get(key)
                if entry is None:
                    entry = counts[key] = [0, 0]
                entry[1] += value
            counts[leaf][0] += value  # type: ignore[index]
        return tally

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to this tally."""
        counts = self.counts
        for key, (flat, cum) in other.counts.items():
            entry = counts.get(key)
            if entry is None:
                counts[key] = [flat, cum]
            else:
                entry[0] += flat
                entry[1] += cum
        self.total += other.total

    def rows(self, sort: str = "self") -> list[TopRow]:
        """Every row, sorted by ``self`` (then total), ``total`` (then self), ``function`` or
        ``process`` (its where column)."""
        rows = [TopRow(k, f, c) for k, (f, c) in self.counts.items()]
        return sort_rows(rows, sort)


SORT_KEYS = ("self", "total", "function", "process")


def sort_rows(rows: list[TopRow], sort: str = "self") -> list[TopRow]:
    """``rows`` sorted by one of :data:`SORT_KEYS` (counts descending, names ascending)."""
    if sort == "self":
        rows.sort(key=lambda r: (-r.flat, -r.cum, r.key.function, r.key.where))
    elif sort == "total":
        rows.sort(key=lambda r: (-r.cum, -r.flat, r.key.function, r.key.where))
    elif sort == "function":
        rows.sort(key=lambda r: (r.key.function, -r.flat, r.key.where))
    elif sort == "process":
        rows.sort(key=lambda r: (r.key.where, -r.flat, r.key.function))
    else:
        raise ValueError(f"unknown sort key {sort!r}: choose one of {', '.join(SORT_KEYS)}")
    return rows


def _location_lines(loc: Location) -> list[tuple[str, str, bool]]:
    """(function, library, is kernel) of each line of ``loc``, innermost first."""
    mapping = loc.mapping.filename if loc.mapping is not None else None
    library = os.path.basename(mapping) if mapping else ""
    if not loc.lines:
        kernel = classify("", "", mapping) == KERNEL
        return [(f"0x{loc.address:x}", KERNEL_WHERE if kernel else library, kernel)]
    out = []
    for ln in loc.lines:
        name = ln.function.name
        kernel = classify(name, ln.function.filename, mapping) == KERNEL
        if kernel and name.endswith("_[k]"):
            name = name[:-4]  # the folded-stacks marker: the [k] column says it
        out.append((name, KERNEL_WHERE if kernel else library, kernel))
    return out


def format_top_table(
    rows: Iterable[TopRow], total: int, n: int | None = None, unit: str = "count"
) -> str:
    """Rows as text: ``flat flat% cum cum%  process (library)  [k] function`` (the first ``n``
    rows; percentages of ``total``; ``unit`` "nanoseconds": values in seconds)."""
    shown = list(rows) if n is None else list(rows)[:n]
    base = total or 1
    width = min(32, max([len(WHERE_HEADER)] + [len(r.key.where) for r in shown]))
    seconds = unit == "nanoseconds"
    w = 9 if seconds else 8
    value = (lambda v: f"{v / 1e9:.3f}s") if seconds else str
    header = f"{'flat':>{w}} {'flat%':>7} {'cum':>{w}} {'cum%':>7}  {WHERE_HEADER:<{width}}"
    lines = [f"{header}  function"]
    for r in shown:
        lines.append(
            f"{value(r.flat):>{w}} {100 * r.flat / base:6.2f}% {value(r.cum):>{w}} "
            f"{100 * r.cum / base:6.2f}%  {_fit(r.key.where, width):<{width}}  "
            f"{r.key.marker} {r.key.function}"
        )
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class TallyWindow:
    """Tallies of successive intervals: their sum over the last ``seconds`` (the window), and
    over the whole run.

    ``add(tally, duration)`` once per interval; the window is the newest intervals whose
    durations add up to ``seconds`` (at least the newest one).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._intervals: list[tuple[Tally, float]] = []
        self.cumulative = Tally()
        self.cumulative_seconds = 0.0

    def add(self, tally: Tally, duration: float) -> None:
        """One more interval of ``duration`` seconds."""
        self._intervals.append((tally, duration))
        self.cumulative.add(tally)
        self.cumulative_seconds += duration
        covered = sum(d for _, d in self._intervals)
        while len(self._intervals) > 1 and covered - self._intervals[0][1] >= self.seconds:
            covered -= self._intervals.pop(0)[1]

    def window(self) -> tuple[Tally, float]:
        """The sum of the window's tallies and the seconds it covers."""
        total = Tally()
        for tally, _ in self._intervals:
            total.add(tally)
        return total, sum(d for _, d in self._intervals)
