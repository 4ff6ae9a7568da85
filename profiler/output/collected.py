"""The collected profile and its outputs: pprof, folded stacks, OTLP, SVG and HTML flame graphs,
speedscope JSON, top table (the rendered formats come from the pprof: ``profiler.output``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..bpf.samples import DrainStats
from ..frames.model import SymbolizedSample
from ..frames.pipeline import PipelineStats, folded_name
from .formats import FORMATS, format_for_path, render
from .title import ProfileTitle

__all__ = ["FORMATS", "CollectedProfile", "guess_format"]


@dataclass
class CollectedProfile:
    """Symbolized samples of one session or interval, with what the kernel and pipeline counted."""

    samples: list[SymbolizedSample]
    freq: int
    start_time: float
    duration: float
    kernel_stats: DrainStats = field(default_factory=DrainStats)
    pipeline_stats: PipelineStats = field(default_factory=PipelineStats)

    @property
    def period_ns(self) -> int:
        """Nanoseconds of CPU one sample stands for."""
        return round(1e9 / self.freq) if self.freq else 0

    @property
    def total(self) -> int:
        """Number of samples in the profile."""
        return sum(s.count for s in self.samples)

    # -- folded / svg --------------------------------------------------------------------
    def folded_stacks(self) -> Iterator[tuple[list[str], int]]:
        """Stacks root first, with the process name as the root frame, and counts."""
        merged: Counter[tuple[str, ...]] = Counter()
        for s in self.samples:
            root = str(s.labels.get("process_name", "")) or "[unknown]"
            names = [root] + [folded_name(f) for f in reversed(s.frames)]
            merged[tuple(names)] += s.count
        for names in sorted(merged):
            yield list(names), merged[names]

    def folded(self) -> str:
        """Brendan Gregg's folded format: ``root;...;leaf COUNT`` per line."""
        return "".join(f"{';'.join(n)} {c}\n" for n, c in self.folded_stacks())

    def svg(self, title: ProfileTitle | None = None) -> str:
        """A self-contained SVG flame graph."""
        return self.encode("svg", title).decode()

    # -- pprof / otlp --------------------------------------------------------------------
    def to_pprof(self, title: ProfileTitle | None = None):
        """Build the pprof profile (a ``pprof_encoder`` profile object), titled if given."""
        from .pprof import build_pprof

        profile = build_pprof(self)
        if title is not None:
            profile.comments.extend(title.comments())
        return profile

    def to_otlp(self, resource_attributes: dict[str, str | int] | None = None) -> bytes:
        """Encode an OTLP ``ExportProfilesServiceRequest`` (one resource per process)."""
        from .pprof import build_otlp

        return build_otlp(self, resource_attributes or {})

    def encode(self, fmt: str, title: ProfileTitle | None = None) -> bytes:
        """The profile's bytes in ``fmt`` (pprof is gzipped, as on disk)."""
        if fmt == "folded":
            return self.folded().encode()
        if fmt == "otlp":
            return self.to_otlp()
        if fmt in FORMATS:
            return render(self.to_pprof(title), fmt)
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")

    def write(self, path: str, fmt: str | None = None, title: ProfileTitle | None = None) -> str:
        """Write the profile to ``path`` (format guessed from the name when not given)."""
        fmt = fmt or guess_format(path)
        data = self.encode(fmt, title)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return fmt

    # -- summary -------------------------------------------------------------------------
    def top(self, n: int = 10) -> list[tuple[str, int, int]]:
        """The ``n`` functions with most flat samples: (name, flat, cumulative)."""
        flat: Counter[str] = Counter()
        cum: Counter[str] = Counter()
        for s in self.samples:
            if s.frames:
                flat[s.frames[0].function] += s.count
            for name in {f.function for f in s.frames}:
                cum[name] += s.count
        ranked = sorted(flat.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(name, count, cum[name]) for name, count in ranked]

    def top_table(self, n: int = 10) -> str:
        """A table like ``go tool pprof -top``: flat, flat%, cum, cum%, name."""
        total = self.total or 1
        lines = [f"{'flat':>8} {'flat%':>7} {'cum':>8} {'cum%':>7}  function"]
        for name, f, c in self.top(n):
            lines.append(f"{f:>8} {100 * f / total:6.2f}% {c:>8} {100 * c / total:6.2f}%  {name}")
        return "\n".join(lines)


def guess_format(path: str) -> str:
    """The output format a file name asks for; an unknown extension raises
    :class:`profiler.output.formats.UnknownFormatError` (a ValueError) naming the formats."""
    return format_for_path(path)
