"""Off-CPU time in the one pprof profile: its sample types, values and comments, and the OTLP
profiles Pyroscope and the Collector map to ``process_cpu`` and ``off_cpu``.

A profile with off-CPU time holds two kinds of samples side by side: CPU samples (``count``
cpu-clock ticks) and off-CPU samples (``off_cpu_ns`` blocked, ``count`` 0, a ``thread.state``
label). Their values, per sample type:

- ``samples/count``: CPU ticks (0 for an off-CPU sample);
- ``cpu/nanoseconds``: ticks × the sampling period;
- ``off_cpu/nanoseconds``: the blocked time (scaled by 1/p when switches were sampled);
- ``wall/nanoseconds``: CPU + off-CPU, so a thread's wall total is its elapsed time.

pprof carries all four (``go tool pprof -sample_index=off_cpu`` picks one). OTLP gets, per
process, the CPU profile as without off-CPU time plus an ``off_cpu/nanoseconds`` profile without
a period, which is what Pyroscope (and the Collector's Pyroscope path) maps to its ``off_cpu``
profile type; ``wall`` is not sent there (receivers derive it, and Pyroscope has no type for
it). Both are cut from the one pprof (:func:`otlp_parts`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pprof_encoder.profile import Profile
from pprof_encoder.split import split

from ..bpf.offcpu_stats import OffCpuStats
from ..frames.model import SymbolizedSample

SAMPLE_TYPES = ("samples", "cpu", "off_cpu", "wall")
UNITS = {"samples": "count", "cpu": "nanoseconds", "off_cpu": "nanoseconds", "wall": "nanoseconds"}
STATE_LABEL = "thread.state"
# Every comment about off-CPU time starts so (the CPU profile sent over OTLP leaves them out).
COMMENT_PREFIX = "pureprof: off-CPU"
CPU_COMMENT_PREFIX = "pureprof: cpu-clock"


@dataclass
class OffCpuInfo:
    """How a profile's off-CPU time was recorded (for its comments and the command's summary)."""

    min_ns: int
    sample: float  # the probability a switch-out was remembered
    scale: float  # the weight applied to each remembered block (exactly 1/p as used)
    hook: str  # the sched_switch form the program ran on
    stats: OffCpuStats | None = None  # cumulative, at the profile's end
    dwarf_min_ns: int = 0  # the minimum for DWARF-unwound processes (0: none were)


def sample_types(with_off_cpu: bool) -> list[tuple[str, str]]:
    """The pprof sample types of a profile (CPU only, or all four)."""
    names = SAMPLE_TYPES if with_off_cpu else SAMPLE_TYPES[:2]
    return [(name, UNITS[name]) for name in names]


def sample_values(sample: SymbolizedSample, period_ns: int, with_off_cpu: bool) -> list[int]:
    """One value per sample type of :func:`sample_types`."""
    cpu = sample.count * period_ns
    if not with_off_cpu:
        return [sample.count, cpu]
    return [sample.count, cpu, sample.off_cpu_ns, cpu + sample.off_cpu_ns]


def format_ns(value: int) -> str:
    """Nanoseconds for reading: ``"250 ms"``, ``"1.2 s"``, ``"750 ns"``."""
    for unit, size in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value} ns"


def off_cpu_comments(info: OffCpuInfo) -> list[str]:
    """The profile comments that say how off-CPU time was recorded and what was dropped."""
    out = [
        f"{COMMENT_PREFIX} time from sched_switch ({info.hook}): from a thread's switch-out "
        f"to its switch-in; blocks shorter than {format_ns(info.min_ns)} are not counted"
        + (
            f"; in processes unwound with DWARF, blocks shorter than "
            f"{format_ns(info.dwarf_min_ns)} are counted without a stack"
            if info.dwarf_min_ns > info.min_ns
            else ""
        ),
        f"{COMMENT_PREFIX}: wall = cpu + off_cpu; thread.state = how the thread waited "
        "(runnable: preempted or yielded; sleeping; disk: uninterruptible; idle, stopped, parked)",
    ]
    if info.sample < 1:
        out.append(
            f"{COMMENT_PREFIX} switches sampled with p = {info.sample:g}: each remembered "
            f"block weighs 1/p = {info.scale:.6g} times its length, so totals estimate all "
            "blocks (peers that sample switches do not rescale)"
        )
    st = info.stats
    if st is not None:
        out.append(
            f"{COMMENT_PREFIX} dropped: {st.below_min} blocks below the minimum "
            f"({format_ns(st.below_min_ns)}), {st.start_map_full} switch-outs (start map full), "
            f"{st.counts_map_full} blocks (counts map full, {format_ns(st.counts_map_full_ns)}), "
            f"{st.unmatched_switch_outs} switch-outs whose switch-in the kernel did not "
            f"report, {st.dwarf_ring_full + st.dwarf_stash_lost} DWARF blocks, "
            f"{st.missed_events} switches the program did not run for"
        )
    return out


def has_off_cpu(profile: Profile) -> bool:
    """Whether ``profile`` carries off-CPU time (an ``off_cpu`` sample type)."""
    return any(vt.type == "off_cpu" for vt in profile.sample_type)


def otlp_parts(profile: Profile) -> list[Profile]:
    """The profiles OTLP carries for ``profile`` (one process's part of the pprof).

    Without off-CPU time: the profile itself. With it: the CPU samples as ``samples/count`` and
    ``cpu/nanoseconds`` with the cpu period (Pyroscope's ``process_cpu``), and the off-CPU
    samples as ``off_cpu/nanoseconds`` without a period (Pyroscope's ``off_cpu``); a part with
    no sample is left out.
    """
    if not has_off_cpu(profile):
        return [profile]
    cpu = cpu_part(profile)
    off = only_sample_types(profile, [profile.sample_index("off_cpu")], "off_cpu")
    if off is not None:
        off.period_type, off.period = None, 0
        off.comments = [c for c in off.comments if not c.startswith(CPU_COMMENT_PREFIX)]
    return [p for p in (cpu, off) if p is not None]


def cpu_part(profile: Profile) -> Profile | None:
    """The CPU profile in ``profile``: itself without off-CPU time; else its CPU samples with
    the ``samples`` and ``cpu`` sample types only (None if it has none)."""
    if not has_off_cpu(profile):
        return profile
    indices = [profile.sample_index("samples"), profile.sample_index("cpu")]
    cpu = only_sample_types(profile, indices, "cpu")
    if cpu is not None:
        cpu.comments = [c for c in cpu.comments if not c.startswith(COMMENT_PREFIX)]
    return cpu


def off_cpu_status(profile: Profile, info: OffCpuInfo) -> dict:
    """The off-CPU part of the agent's status: the profile's blocked time and what was dropped
    (cumulative since the start)."""
    st = info.stats or OffCpuStats()
    return {
        "off_cpu_ns": profile.total(profile.sample_index("off_cpu")) if has_off_cpu(profile) else 0,
        "off_cpu_dropped": {
            "below_min": st.below_min,
            "lost": st.lost,
            "unmatched_switch_outs": st.unmatched_switch_outs,
            "missed_events": st.missed_events,
        },
    }


def only_sample_types(profile: Profile, indices: list[int], default: str) -> Profile | None:
    """A profile of the samples with a value in one of the sample types ``indices``, with
    only those sample types (``default`` its default); None if no sample has one."""
    parts = split(profile, lambda s: any(s.values[i] for i in indices))
    part = parts.get(True)
    if part is None:
        return None
    part.sample_type = [profile.sample_type[i] for i in indices]
    part.samples = [replace(s, values=[s.values[i] for i in indices]) for s in part.samples]
    part.default_sample_type = default
    return part
