"""speedscope's JSON file format (``*.speedscope.json``), one sampled profile per thread or process.

The format (jlfwong/speedscope ``src/lib/file-format-spec.ts``): a file holds ``shared.frames``
(``{name, file?, line?}``) and ``profiles``; a sampled profile has ``samples`` (stacks as lists of
frame indices, root first), ``weights`` (one per sample), a ``unit`` and ``startValue`` /
``endValue``. speedscope opens a file at the profile ``activeProfileIndex`` names: ours is the
heaviest one.

Frames are functions as speedscope's own pprof import makes them (name, source file, first line),
inlined functions included; a frame without a source file names its binary instead. Kernel frames
get perf's `` [k]`` mark, since speedscope colours by name only. Equal stacks of a thread are
merged and stacks are sorted, so the "time order" view reads like a flame graph and the output is
deterministic.
"""

from __future__ import annotations

import json

from pprof_encoder.profile import Profile

from .. import __version__
from .frame_kinds import KERNEL, line_kinds
from .title import ProfileTitle

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
SUFFIX = ".speedscope.json"
_UNITS = {"nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}


def _label_values(labels) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for label in labels:
        out[label.key] = label.num if label.is_num or not label.str else label.str
    return out


def _group_name(values: dict[str, str | int], per: str) -> tuple[tuple, str]:
    """The grouping key and display name of a sample's thread (or process)."""
    pid, tid = values.get("pid"), values.get("tid")
    process = str(values.get("process_name", "")) or "process"
    if pid is None:
        return (), "all samples"
    name = f"{process} (pid {pid})"
    if per == "process" or tid is None:
        return (pid,), name
    thread = str(values.get("thread_name", "")) or "thread"
    return (pid, tid), f"{name}: {thread} (tid {tid})"


def render_speedscope(
    profile: Profile,
    *,
    title: ProfileTitle,
    sample_index: int | None = None,
    per: str = "thread",
) -> str:
    """The speedscope JSON document of one sample type of ``profile`` (default type unless given),
    one profile per thread (``per="thread"``) or per process (``per="process"``)."""
    if per not in ("thread", "process"):
        raise ValueError(f"per must be 'thread' or 'process', not {per!r}")
    if sample_index is None:
        sample_index = profile.sample_index()
    vt = profile.sample_type[sample_index]
    unit = vt.unit if vt.unit in _UNITS else "none"

    frames: list[dict] = []
    frame_index: dict[tuple, int] = {}
    by_location: dict[int, tuple[int, ...]] = {}
    for loc in profile.locations:
        module = loc.mapping.filename if loc.mapping is not None else ""
        stack = []
        lines = loc.lines
        kinds = line_kinds(loc)
        if not lines:
            key: tuple = (f"0x{loc.address:x}", module, 0)
            stack.append(key)
        for ln, kind in zip(lines, kinds, strict=True):
            fn = ln.function
            name = fn.name or "??"
            if kind == KERNEL and not name.endswith(("_[k]", " [k]")):
                name += " [k]"
            stack.append((name, fn.filename or module, fn.start_line))
        ids = []
        for key in reversed(stack):  # lines are innermost first; speedscope stacks root first
            i = frame_index.get(key)
            if i is None:
                i = frame_index[key] = len(frames)
                frame = {"name": key[0]}
                if key[1]:
                    frame["file"] = key[1]
                if key[2]:
                    frame["line"] = key[2]
                frames.append(frame)
            ids.append(i)
        by_location[id(loc)] = tuple(ids)

    groups: dict[tuple, tuple[str, dict[tuple[int, ...], int]]] = {}
    for s in profile.samples:
        value = s.values[sample_index]
        if value <= 0:
            continue  # speedscope rejects negative weights and ignores zero ones
        key, name = _group_name(_label_values(s.labels), per)
        stacks = groups.setdefault(key, (name, {}))[1]
        parts: list[int] = []
        for loc in reversed(s.locations):
            parts.extend(by_location[id(loc)])
        stack = tuple(parts)
        stacks[stack] = stacks.get(stack, 0) + value

    profiles = []
    for key in sorted(groups, key=lambda k: tuple(str(p) for p in k)):
        name, stacks = groups[key]
        ordered = sorted(stacks, key=lambda st: [frames[i]["name"] for i in st])
        weights = [stacks[st] for st in ordered]
        profiles.append(
            {
                "type": "sampled",
                "name": name,
                "unit": unit,
                "startValue": 0,
                "endValue": sum(weights),
                "samples": [list(st) for st in ordered],
                "weights": weights,
            }
        )
    heaviest = max(range(len(profiles)), key=lambda i: profiles[i]["endValue"], default=0)
    if not title.sample_type:
        title = title.with_sample_type(f"{vt.type}/{vt.unit}")
    document = {
        "$schema": SCHEMA,
        "exporter": f"pureprof@{__version__}",
        "name": title.text(),
        "activeProfileIndex": heaviest,
        "shared": {"frames": frames},
        "profiles": profiles,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
