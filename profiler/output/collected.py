"""The collected profile: symbolized samples of one session or interval, and every output of it.

One pprof profile is built from the samples (once, on first use; the title rides in its
comments) and every format renders from it (:mod:`.formats`): pprof, folded stacks, OTLP, the
SVG and HTML flame graphs, speedscope JSON, the top table. So the CLI, the agent and the library
give the same numbers in every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pprof_encoder.profile import Profile
from pprof_encoder.top import top_rows

from ..bpf.samples import DrainStats
from ..frames.model import SymbolizedSample
from ..frames.pipeline import PipelineStats
from .files import AtomicFile
from .formats import format_for_path, render
from .pprof import COUNT_INDEX, build_otlp, build_pprof, host_resource_attributes
from .title import ProfileTitle


@dataclass
class CollectedProfile:
    """Symbolized samples of one session or interval, with what the kernel and pipeline counted.

    ``title``: what was profiled (command line, pids, host...), carried into every format.
    """

    samples: list[SymbolizedSample]
    freq: int
    start_time: float
    duration: float
    kernel_stats: DrainStats = field(default_factory=DrainStats)
    pipeline_stats: PipelineStats = field(default_factory=PipelineStats)
    title: ProfileTitle | None = None
    _pprof: Profile | None = field(default=None, repr=False, compare=False)

    @property
    def period_ns(self) -> int:
        """Nanoseconds of CPU one sample stands for."""
        return round(1e9 / self.freq) if self.freq else 0

    @property
    def total(self) -> int:
        """Number of samples in the profile."""
        return sum(s.count for s in self.samples)

    def to_pprof(self) -> Profile:
        """The one pprof profile (a ``pprof_encoder`` profile) every format renders from."""
        if self._pprof is None:
            self._pprof = build_pprof(
                self.samples,
                freq=self.freq,
                start_time=self.start_time,
                duration=self.duration,
                comments=self.title.comments() if self.title is not None else (),
            )
        return self._pprof

    def to_otlp(
        self,
        resource_attributes: dict[str, str | int] | None = None,
        service_name: str | None = None,
    ) -> bytes:
        """An OTLP ``ExportProfilesServiceRequest`` (one resource per process; the host's
        attributes unless others are given)."""
        base = host_resource_attributes() if resource_attributes is None else resource_attributes
        return build_otlp(self.to_pprof(), base, service_name)

    def folded(self) -> str:
        """Folded stacks (``process;root;...;leaf COUNT``), kernel frames marked ``_[k]``."""
        return self.encode("folded").decode()

    def svg(self) -> str:
        """A self-contained SVG flame graph."""
        return self.encode("svg").decode()

    def encode(self, fmt: str) -> bytes:
        """The profile's bytes in ``fmt`` (one of :data:`~.formats.FORMATS`)."""
        return render(self.to_pprof(), fmt, resource=host_resource_attributes())

    def write(self, path: str, fmt: str | None = None) -> str:
        """Write the profile to ``path`` (format from the name when not given), atomically."""
        fmt = fmt or format_for_path(path)
        with AtomicFile(path) as out:
            out.commit(self.encode(fmt))
        return fmt

    def top(self, n: int = 10) -> list[tuple[str, int, int]]:
        """The ``n`` functions with most flat samples: (name, flat, cumulative)."""
        rows, _ = top_rows(self.to_pprof(), COUNT_INDEX)
        return [(r.name, r.flat, r.cum) for r in rows if r.flat][:n]

    def top_table(self, n: int = 10) -> str:
        """A table like ``go tool pprof -top`` (flat, flat%, cum, cum%) with whose code each
        function is (process, library) and perf's ``[k]`` marker for kernel functions."""
        from .top_table import Tally, format_top_table

        tally = Tally.of(self.to_pprof(), COUNT_INDEX)
        rows = [r for r in tally.rows() if r.flat]
        return format_top_table(rows, tally.total, n)
