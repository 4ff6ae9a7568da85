"""The wall-clock view of a profile with off-CPU time: per thread, CPU + off-CPU = wall, and the
states it waited in; read from the one pprof profile, as every other output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pprof_encoder.profile import Profile
from pprof_encoder.split import label_value

from .off_cpu import STATE_LABEL, OffCpuInfo, format_ns


@dataclass
class ThreadTime:
    """One thread's CPU and off-CPU time in a profile."""

    pid: int
    tid: int
    name: str
    cpu_ns: int = 0
    off_cpu_ns: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def wall_ns(self) -> int:
        """CPU + off-CPU."""
        return self.cpu_ns + self.off_cpu_ns


def thread_times(profile: Profile) -> list[ThreadTime]:
    """Per thread: CPU, off-CPU (by state) and wall, the biggest wall first (a profile without
    off-CPU time gives CPU only)."""
    index = {vt.type: i for i, vt in enumerate(profile.sample_type)}
    cpu_at, off_at = index.get("cpu"), index.get("off_cpu")
    threads: dict[tuple[int, int], ThreadTime] = {}
    for s in profile.samples:
        pid, tid = int(label_value(s, "pid") or 0), int(label_value(s, "tid") or 0)
        t = threads.get((pid, tid))
        if t is None:
            name = str(label_value(s, "thread_name") or "")
            t = threads[(pid, tid)] = ThreadTime(pid, tid, name)
        if cpu_at is not None:
            t.cpu_ns += s.values[cpu_at]
        off = s.values[off_at] if off_at is not None else 0
        if off:
            t.off_cpu_ns += off
            state = str(label_value(s, STATE_LABEL) or "")
            t.by_state[state] = t.by_state.get(state, 0) + off
    return sorted(threads.values(), key=lambda t: (-t.wall_ns, t.pid, t.tid))


def wall_table(profile: Profile, n: int = 15) -> str:
    """The wall view as text: per thread, CPU + off-CPU = wall, and where the off-CPU went."""
    lines = [f"{'pid':>7} {'tid':>7} {'thread':<16} {'cpu':>9} {'off-cpu':>9} {'wall':>9}  waiting"]
    for t in thread_times(profile)[:n]:
        states = ", ".join(
            f"{state or '?'} {format_ns(ns)}"
            for state, ns in sorted(t.by_state.items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"{t.pid:>7} {t.tid:>7} {t.name[:16]:<16} {t.cpu_ns / 1e9:8.3f}s "
            f"{t.off_cpu_ns / 1e9:8.3f}s {t.wall_ns / 1e9:8.3f}s  {states}"
        )
    return "\n".join(lines)


def off_cpu_summary(profile: Profile, info: OffCpuInfo) -> str:
    """What the command prints after a profile with off-CPU time: the wall view and the drops."""
    lines = ["Wall-clock time per thread (CPU + off-CPU):", wall_table(profile)]
    st = info.stats
    if st is not None:
        lines.append(
            f"\nOff-CPU: {st.blocks} blocks counted; not counted: {st.below_min} shorter than "
            f"the minimum ({st.below_min_ns / 1e9:.3f} s), {st.lost} lost to full maps, "
            f"{st.unmatched_switch_outs} switch-ins the kernel did not report, "
            f"{st.open_blocks} threads still blocked at the end"
        )
    return "\n".join(lines)
