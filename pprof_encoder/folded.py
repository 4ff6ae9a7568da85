"""Folded (collapsed) stacks: ``root;caller;leaf COUNT`` lines, Brendan Gregg's format.

This is what ``stackcollapse-perf.pl``, bpftrace's folded output and BCC's ``profile -f`` write.
Reading gives a profile with the sample type ``samples/count``; writing takes one sample type
and expands inlined lines into frames of their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from .builder import ProfileBuilder
from .gc_pause import paused_gc
from .profile import Profile


class FoldedFormatError(ValueError):
    """A line that is not ``frames COUNT``."""


def parse_folded(lines: Iterable[str]) -> Profile:
    """Read folded stacks (root first) into a profile of ``samples/count``.

    Blank lines and lines starting with ``#`` are skipped. Frame names may contain spaces: the
    count is what follows the last run of whitespace. Counts are integers.
    """
    with paused_gc():
        return _parse_folded(lines)


def _parse_folded(lines: Iterable[str]) -> Profile:
    builder = ProfileBuilder([("samples", "count")], ("samples", "count"), 1)
    add = builder.add_sample
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip()  # trailing spaces and "\r\n" too
        if not line or line.startswith("#"):
            continue
        # The count follows the last run of spaces or tabs (frame names may contain spaces).
        parts = line.rsplit(None, 1)
        stack, count = parts if len(parts) == 2 else ("", parts[0])
        try:
            value = int(count)
        except ValueError:
            raise FoldedFormatError(
                f"line {number}: expected 'frame;frame;... COUNT', got {line[:80]!r}"
            ) from None
        if not stack:
            raise FoldedFormatError(f"line {number}: a count with no stack: {line[:80]!r}")
        # No cache of split stacks: folded lines are nearly all distinct, a cache only holds
        # every frame string of the file in memory (measured: 236 MB → see the report).
        add(stack.split(";")[::-1], value)
    return builder.build()


KERNEL_MAPPING = "[kernel.kallsyms]"  # the mapping perf (and we) give kernel frames


def folded_stacks(
    profile: Profile,
    sample_index: int | None = None,
    *,
    root_label: str | None = None,
    kernel_suffix: str = "",
) -> dict[tuple[str, ...], int]:
    """Stacks root first (inlined lines as frames of their own) -> summed value of one type.

    ``root_label``: put the value of this sample label (e.g. a process name) as the root frame.
    ``kernel_suffix``: append it to the names of frames in the ``[kernel.kallsyms]`` mapping
    (flamegraph.pl colours ``_[k]`` frames as kernel). Zero values are dropped; ``;`` in names
    becomes ``:`` (it separates frames).
    """
    if sample_index is None:
        sample_index = profile.sample_index()
    names: dict[int, tuple[str, ...]] = {}  # id(location) -> its frames, root first
    totals: dict[tuple[str, ...], int] = {}
    for s in profile.samples:
        value = s.values[sample_index]
        if not value:
            continue
        parts: list[str] = []
        if root_label is not None:
            root = next((lb for lb in s.labels if lb.key == root_label), None)
            parts.append((root.str or str(root.num)) if root is not None else "[unknown]")
        for loc in reversed(s.locations):
            frames = names.get(id(loc))
            if frames is None:
                suffix = (
                    kernel_suffix
                    if loc.mapping is not None and loc.mapping.filename == KERNEL_MAPPING
                    else ""
                )
                # Lines are innermost first; the folded stack goes root first.
                frames = names[id(loc)] = tuple(
                    (ln.function.name or "??").replace(";", ":") + suffix
                    for ln in reversed(loc.lines)
                ) or (f"0x{loc.address:x}",)
            parts.extend(frames)
        key = tuple(parts) or ("[no stack]",)
        totals[key] = totals.get(key, 0) + value
    return totals


def format_folded(
    profile: Profile,
    sample_index: int | None = None,
    *,
    root_label: str | None = None,
    kernel_suffix: str = "",
) -> str:
    """Folded stacks of one sample type (the profile's default one unless given).

    Equal stacks are summed, zero counts dropped, lines sorted: the output is deterministic.
    See :func:`folded_stacks` for the options.
    """
    totals = folded_stacks(
        profile, sample_index, root_label=root_label, kernel_suffix=kernel_suffix
    )
    lines = sorted((";".join(stack), count) for stack, count in totals.items())
    return "".join(f"{stack} {count}\n" for stack, count in lines)
