"""The overhead benchmark's tables: one per configuration, and a summary against issue 12's
targets (which the benchmark prints and does not assert: they are what we work towards)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .overhead_run import ToolRun, WorkloadRate

# Issue 12's targets.
STEADY_TARGET_PCT = {99: 0.05, 997: 0.3}
RSS_TARGET_MB = 40.0


@dataclass(frozen=True)
class Config:
    """One configuration: workload build, scope and rate."""

    frame_pointers: bool
    by_pid: bool
    freq: int

    @property
    def id(self) -> str:
        return f"{'fp' if self.frame_pointers else 'nofp'}-{'pid' if self.by_pid else 'all'}-" + (
            str(self.freq)
        )

    @property
    def title(self) -> str:
        build = "-fno-omit-frame-pointer" if self.frame_pointers else "-fomit-frame-pointer"
        scope = "by pid" if self.by_pid else "whole machine"
        return f"calltree -O2 {build}, {scope}, {self.freq} Hz"

    def __str__(self) -> str:
        return self.id


@dataclass
class ConfigResult:
    """Everything measured in one configuration: the baseline and each tool's run."""

    config: Config
    seconds: float
    baseline: WorkloadRate
    runs: dict[str, ToolRun] = field(default_factory=dict)


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if b <= 0:
        return "inf" if a > 0 else "-"
    return f"{a / b:.2f}x"


def slowdown_pct(run: ToolRun, baseline: WorkloadRate) -> tuple[float | None, float | None]:
    """The workload's loss of progress against the baseline, per CPU second and per wall
    second, in % (negative: it ran faster than alone, i.e. noise of a shared machine)."""

    def loss(with_tool: float, alone: float) -> float | None:
        return 100.0 * (1 - with_tool / alone) if alone else None

    return (
        loss(run.work.per_cpu_s, baseline.per_cpu_s),
        loss(run.work.per_wall_s, baseline.per_wall_s),
    )


_COLUMNS = (
    ("launch", 9),
    ("total CPU", 10),
    ("(post)", 8),
    ("steady", 9),
    ("peak RSS", 9),
    ("(post)", 8),
    ("BPF ns", 7),
    ("slowdown/CPU s", 15),
    ("slowdown/s", 11),
    ("samples", 8),
)


def _row(label: str, width: int, cells: list[str]) -> str:
    return f"{label:<{width}}" + "".join(
        f" {cell:>{w}}" for cell, (_, w) in zip(cells, _COLUMNS, strict=False)
    )


def config_table(result: ConfigResult, pairs: list[tuple[str, str]]) -> str:
    """One configuration's table; ``pairs`` are the (ours, peer) ratio rows to print.

    total CPU includes the post step (perf script), shown again in "(post)"; the second
    "(post)" is the post step's own peak RSS; slowdown is the workload's loss of progress."""
    base = result.baseline
    pairs = [(a, b) for a, b in pairs if a in result.runs and b in result.runs]
    width = max([4, *(len(n) for n in result.runs), *(len(f"{a} / {b}") for a, b in pairs)])
    lines = [
        f"== {result.config.id}: {result.config.title}, {result.seconds:g} s "
        f"(workload alone: {base.per_cpu_s:.0f} iterations per CPU s, "
        f"{base.per_wall_s:.0f} per s)",
        _row("tool", width, [name for name, _ in _COLUMNS]),
    ]
    for run in result.runs.values():
        per_cpu, per_wall = slowdown_pct(run, base)
        cells = [
            _fmt(run.launch_s, ".3f", " s"),
            _fmt(run.total_cpu_s, ".2f", " s"),
            _fmt(run.post_cpu_s or None, ".2f", " s"),
            _fmt(run.steady_pct, ".3f", " %"),
            _fmt(run.rss_mb, ".1f", " MB"),
            _fmt(run.post_rss_mb or None, ".1f", " MB"),
            _fmt(run.bpf_ns_per_sample, ".0f"),
            _fmt(per_cpu, ".1f", " %"),
            _fmt(per_wall, ".1f", " %"),
            str(run.samples),
        ]
        lines.append(_row(run.name, width, cells))
    for ours, peer in pairs:
        a, b = result.runs[ours], result.runs[peer]
        cells = [
            _ratio(a.launch_s, b.launch_s),
            _ratio(a.total_cpu_s, b.total_cpu_s),
            "",
            _ratio(a.steady_pct, b.steady_pct),
            _ratio(a.rss_mb, b.rss_mb),
            "",
            _ratio(a.bpf_ns_per_sample, b.bpf_ns_per_sample),
        ]
        lines.append(_row(f"{ours} / {peer}", width, cells))
    for run in result.runs.values():
        for note in run.notes:
            lines.append(f"  note: {run.name}: {note}")
    return "\n".join(lines)


def _verdict(checks: list[tuple[str, bool | None]]) -> str:
    if not checks:
        return "not measured in this run"
    if any(ok is None for _, ok in checks):
        state = "NOT MEASURED (a figure is missing)"
    else:
        state = "met" if all(ok for _, ok in checks) else "NOT MET"
    return f"{state}: " + "; ".join(text for text, _ in checks)


def _le(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a <= b


def targets_summary(results: list[ConfigResult]) -> str:
    """Which of issue 12's targets this run met, with the figures behind each verdict."""
    fp = [r for r in results if r.config.frame_pointers]
    nofp = [r for r in results if not r.config.frame_pointers]
    launch, cpu, steady, rss, dwarf, bpf = [], [], [], [], [], []
    for r in fp:
        ours, perf, bt = r.runs.get("ours"), r.runs.get("perf -g"), r.runs.get("bpftrace")
        if ours is None or perf is None:
            continue
        cid = r.config.id
        launch.append(
            (f"{cid} {_ratio(ours.launch_s, perf.launch_s)}", _le(ours.launch_s, perf.launch_s))
        )
        cpu.append(
            (
                f"{cid} {_ratio(ours.total_cpu_s, perf.total_cpu_s)}",
                ours.total_cpu_s <= perf.total_cpu_s,
            )
        )
        target = STEADY_TARGET_PCT.get(r.config.freq)
        if target is not None:
            steady.append(
                (
                    f"{cid} {_fmt(ours.steady_pct, '.3f', ' %')} (<= {target} %)",
                    _le(ours.steady_pct, target),
                )
            )
        if bt is not None:
            bpf.append(
                (
                    f"{cid} {_ratio(ours.bpf_ns_per_sample, bt.bpf_ns_per_sample)}",
                    _le(ours.bpf_ns_per_sample, bt.bpf_ns_per_sample),
                )
            )
    for r in results:
        for name, run in r.runs.items():
            if name.startswith("ours"):
                rss.append(
                    (f"{r.config.id} {name} {run.rss_mb:.1f} MB", run.rss_mb <= RSS_TARGET_MB)
                )
    for r in nofp:
        ours, perf = r.runs.get("ours --unwind dwarf"), r.runs.get("perf dwarf")
        if r.config.freq != 997 or ours is None or perf is None:
            continue
        dwarf.append(
            (
                f"{r.config.id} {_ratio(ours.total_cpu_s, perf.total_cpu_s)}",
                ours.total_cpu_s <= perf.total_cpu_s,
            )
        )
    rows = [
        ("launch <= 1.0x perf (frame pointers)", launch),
        ("total CPU <= 1.0x perf + perf script (fp)", cpu),
        ("steady <= 0.05 % at 99 Hz, <= 0.3 % at 997 Hz (fp)", steady),
        (f"peak RSS <= {RSS_TARGET_MB:g} MB (every run of ours)", rss),
        ("DWARF path CPU <= 1.0x perf dwarf at 997 Hz", dwarf),
        ("BPF ns per sample <= bpftrace's (item 6)", bpf),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(
        ["== issue 12 targets (ours / peer; one sitting, one run each)"]
        + [f"{label:<{width}} : {_verdict(checks)}" for label, checks in rows]
    )
