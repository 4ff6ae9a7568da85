"""Reading off-CPU pprof files back for assertions: per-thread totals and stacks by sample type."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pprof_encoder import parse


def load(path: str):
    """Parse (and so validate) a pprof file."""
    with open(path, "rb") as f:
        return parse(f.read())


def index_of(profile, sample_type: str) -> int:
    """The index of ``sample_type`` among the profile's sample types."""
    return next(i for i, vt in enumerate(profile.sample_type) if vt.type == sample_type)


@dataclass
class Thread:
    """What a profile says about one thread."""

    cpu_ns: int = 0
    off_cpu_ns: int = 0
    wall_ns: int = 0
    # (function names leaf first, thread.state) -> off-CPU ns
    off_cpu_stacks: dict[tuple[tuple[str, ...], str], int] = field(default_factory=dict)

    def off_cpu_share(self, *needles: str) -> float:
        """The share of off-CPU time whose stack has, for every needle, a frame containing it."""
        hit = sum(
            ns
            for (stack, _state), ns in self.off_cpu_stacks.items()
            if all(any(needle in name for name in stack) for needle in needles)
        )
        return hit / self.off_cpu_ns if self.off_cpu_ns else 0.0


def threads_of(profile) -> dict[int, Thread]:
    """Per tid: CPU, off-CPU and wall nanoseconds, and the off-CPU stacks."""
    cpu, off, wall = (index_of(profile, t) for t in ("cpu", "off_cpu", "wall"))
    out: dict[int, Thread] = defaultdict(Thread)
    for sample in profile.samples:
        labels = {lb.key: (lb.num if lb.is_num or lb.num else lb.str) for lb in sample.labels}
        t = out[int(labels.get("tid", 0))]
        t.cpu_ns += sample.values[cpu]
        t.off_cpu_ns += sample.values[off]
        t.wall_ns += sample.values[wall]
        if sample.values[off]:
            names = tuple(line.function.name for loc in sample.locations for line in loc.lines)
            key = (names, str(labels.get("thread.state", "")))
            t.off_cpu_stacks[key] = t.off_cpu_stacks.get(key, 0) + sample.values[off]
    return dict(out)
