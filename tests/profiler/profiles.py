"""Reading written pprof files back for assertions (through our own parser, validated)."""

from __future__ import annotations

from collections import Counter

from pprof_encoder import parse


def load(path: str):
    """Parse (and so validate) a pprof file."""
    with open(path, "rb") as f:
        return parse(f.read())


def stacks_of(profile, pid: int | None = None) -> Counter[tuple[str, ...]]:
    """Function-name stacks (leaf first, inline lines expanded) with their sample counts."""
    out: Counter[tuple[str, ...]] = Counter()
    idx = next(i for i, vt in enumerate(profile.sample_type) if vt.type == "samples")
    for sample in profile.samples:
        if pid is not None:
            pids = [lb.num for lb in sample.labels if lb.key == "pid"]
            if pids != [pid]:
                continue
        names = tuple(line.function.name for loc in sample.locations for line in loc.lines)
        out[names] += sample.values[idx]
    return out


def user_part(stack: tuple[str, ...], roots: tuple[str, ...] = ("main",)) -> tuple[str, ...]:
    """The frames from the leaf up to and including the first root frame (e.g. main)."""
    for i, name in enumerate(stack):
        if name in roots:
            return stack[: i + 1]
    return stack
