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
from .off_cpu import OffCpuInfo, off_cpu_comments
from .pprof import COUNT_INDEX, build_otlp, build_pprof, host_resource_attributes
from .title import ProfileTitle


@dataclass
class CollectedProfile:
    """Symbolized samples of one session or interval, with what the kernel and pipeline counted.

    ``title``: what was profiled (command line, pids, host...), carried into every format.
    ``off_cpu``: how off-CPU time was recorded, if it was (the profile then has the off_cpu and
    wall sample types too). ``view``: the sample type folded stacks, the flame graphs and top
    show by default ("": samples; "wall" is also pprof's default sample type).
    """

    samples: list[SymbolizedSample]
    freq: int
    start_time: float
    duration: float
    kernel_stats: DrainStats = field(default_factory=DrainStats)
    pipeline_stats: PipelineStats = field(default_factory=PipelineStats)
    title: ProfileTitle | None = None
    off_cpu: OffCpuInfo | None = None
    view: str = ""
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
            off_cpu = self.off_cpu is not None
            comments = off_cpu_comments(self.off_cpu) if self.off_cpu is not None else []
            if self.title is not None:
                comments += self.title.comments()
            self._pprof = build_pprof(
                self.samples,
                freq=self.freq,
                start_time=self.start_time,
                duration=self.duration,
                comments=comments,
                off_cpu=off_cpu,
                default_sample_type="wall" if off_cpu and self.view == "wall" else "cpu",
            )
        return self._pprof

    def sample_index(self, sample_type: str | None = None) -> int | None:
        """The pprof index of ``sample_type`` (default: the view; None when neither is set).
        ``ValueError`` if the profile has no such sample type."""
        name = sample_type or self.view
        return self.to_pprof().sample_index(name) if name else None

    def to_otlp(
        self,
        resource_attributes: dict[str, str | int] | None = None,
        service_name: str | None = None,
    ) -> bytes:
        """An OTLP ``ExportProfilesServiceRequest`` (one resource per process; the host's
        attributes unless others are given)."""
        base = host_resource_attributes() if resource_attributes is None else resource_attributes
        return build_otlp(self.to_pprof(), base, service_name)

    def folded(self, sample_type: str | None = None) -> str:
        """Folded stacks (``process;root;...;leaf VALUE``), kernel frames marked ``_[k]``, of
        ``sample_type`` (default: the view, else samples)."""
        return self.encode("folded", sample_type).decode()

    def svg(self, sample_type: str | None = None) -> str:
        """A self-contained SVG flame graph (of ``sample_type``, default: the view)."""
        return self.encode("svg", sample_type).decode()

    def encode(self, fmt: str, sample_type: str | None = None) -> bytes:
        """The profile's bytes in ``fmt`` (one of :data:`~.formats.FORMATS`); folded stacks and
        the flame graphs show ``sample_type`` (default: the view)."""
        index = self.sample_index(sample_type)
        return render(self.to_pprof(), fmt, index, resource=host_resource_attributes())

    def write(self, path: str, fmt: str | None = None, sample_type: str | None = None) -> str:
        """Write the profile to ``path`` (format from the name when not given), atomically."""
        fmt = fmt or format_for_path(path)
        with AtomicFile(path) as out:
            out.commit(self.encode(fmt, sample_type))
        return fmt

    def top(self, n: int = 10, sample_type: str | None = None) -> list[tuple[str, int, int]]:
        """The ``n`` functions with the most flat value of ``sample_type`` (default: the view,
        else samples): (name, flat, cumulative)."""
        index = self.sample_index(sample_type)
        rows, _ = top_rows(self.to_pprof(), COUNT_INDEX if index is None else index)
        return [(r.name, r.flat, r.cum) for r in rows if r.flat][:n]

    def top_table(self, n: int = 10, sample_type: str | None = None) -> str:
        """A table like ``go tool pprof -top`` (flat, flat%, cum, cum%) with whose code each
        function is (process, library) and perf's ``[k]`` marker for kernel functions, of
        ``sample_type`` (default: the view, else samples; nanoseconds shown in seconds)."""
        from .top_table import Tally, format_top_table

        index = self.sample_index(sample_type)
        pprof = self.to_pprof()
        index = COUNT_INDEX if index is None else index
        tally = Tally.of(pprof, index)
        rows = [r for r in tally.rows() if r.flat]
        return format_top_table(rows, tally.total, n, unit=pprof.sample_type[index].unit)
