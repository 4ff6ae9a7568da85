"""A profile's stacks aggregated into one call tree: what flame graphs draw.

Built once on the Python side so a viewer gets a compact tree instead of every sample: nodes in
preorder (children sorted by name, so the output is deterministic), each with its frame, depth,
total value and, when the profile counts samples, its sample count. A node's self value is its
total minus its children's. Frames are merged by function (name, kind, source file, binary), not by
line: a node remembers the line that carried most of its weight.

The first level under the root is the process name (the ``process_name`` label) when samples have
one, as in flamegraph.pl's output of perf; inlined functions are frames of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pprof_encoder.profile import Profile, ValueType

from .frame_kinds import classify, line_kinds
from .palette import PROCESS


@dataclass(frozen=True, slots=True)
class TreeFrame:
    """A function as the tree shows it."""

    name: str
    kind: str  # a frame_kinds kind, or palette.PROCESS for the process level
    file: str = ""
    module: str = ""  # the mapping's file name


@dataclass(slots=True)
class CallTree:
    """Nodes in preorder as parallel lists; node 0 is the root (frame -1)."""

    frames: list[TreeFrame]
    frame: list[int]
    depth: list[int]
    total: list[int]
    line: list[int]  # the line with most weight in the node (0: unknown)
    count: list[int] | None  # samples per node (None: no samples/count type besides value_type)
    value_type: ValueType
    count_type: ValueType | None

    def self_values(self, values: list[int] | None = None) -> list[int]:
        """Each node's self part of ``values`` (the totals by default): total minus children's."""
        values = self.total if values is None else values
        own = list(values)
        depth = self.depth
        parents: list[int] = []
        for i in range(1, len(depth)):
            del parents[depth[i] - 1 :]
            if parents:
                own[parents[-1]] -= values[i]
            else:
                own[0] -= values[i]
            parents.append(i)
        return own

    def path(self, node: int) -> list[int]:
        """The nodes from the root's first child down to ``node``."""
        out = [node]
        d = self.depth[node]
        for i in range(node - 1, 0, -1):
            if self.depth[i] < d:
                out.append(i)
                d = self.depth[i]
        return out[::-1]


def _count_index(profile: Profile, value_index: int) -> int | None:
    for i, vt in enumerate(profile.sample_type):
        if i != value_index and vt.type == "samples" and vt.unit == "count":
            return i
    return None


def build_call_tree(
    profile: Profile, sample_index: int | None = None, *, by_process: bool = True
) -> CallTree:
    """Aggregate the samples of one sample type (the default one unless given) into a tree."""
    if sample_index is None:
        sample_index = profile.sample_index()
    value_type = profile.sample_type[sample_index]
    count_index = _count_index(profile, sample_index)

    frame_ids: dict[TreeFrame, int] = {}
    frames: list[TreeFrame] = []

    def frame_id(f: TreeFrame) -> int:
        i = frame_ids.get(f)
        if i is None:
            i = frame_ids[f] = len(frames)
            frames.append(f)
        return i

    # Each location once: its (frame, line) pairs root first (lines are innermost first).
    by_location: dict[int, tuple[tuple[int, int], ...]] = {}
    for loc in profile.locations:
        module = loc.mapping.filename if loc.mapping is not None else ""
        if loc.lines:
            pairs = [
                (
                    frame_id(
                        TreeFrame(ln.function.name or "??", kind, ln.function.filename, module)
                    ),
                    ln.line,
                )
                for ln, kind in zip(loc.lines, line_kinds(loc), strict=True)
            ]
        else:
            name = f"0x{loc.address:x}"
            kind = classify("", "", module or None)
            pairs = [(frame_id(TreeFrame(name, kind, "", module)), 0)]
        by_location[id(loc)] = tuple(reversed(pairs))

    # Equal stacks of different threads or labels merge first: the tree walk runs once per
    # distinct (process, stack).
    merged: dict[tuple, list[int]] = {}
    for s in profile.samples:
        value = s.values[sample_index]
        if value <= 0:
            continue  # a flame graph has no negative widths
        process = -1
        if by_process:
            for label in s.labels:
                if label.key == "process_name" and label.str:
                    process = frame_id(TreeFrame(label.str, PROCESS))
                    break
        key = (process, tuple(id(loc) for loc in s.locations))
        entry = merged.get(key)
        count = s.values[count_index] if count_index is not None else 0
        if entry is None:
            merged[key] = [value, count]
        else:
            entry[0] += value
            entry[1] += count

    # Trie nodes: [children {frame: node}, total, count, line, {line: weight} or None].
    root: list = [{}, 0, 0, 0, None]
    for (process, loc_ids), (value, count) in merged.items():
        root[1] += value
        root[2] += count
        node = root
        steps = [(process, 0)] if process >= 0 else []
        for loc_id in reversed(loc_ids):
            steps.extend(by_location[loc_id])
        for fid, line in steps:
            children = node[0]
            child = children.get(fid)
            if child is None:
                child = children[fid] = [{}, 0, 0, line, None]
            child[1] += value
            child[2] += count
            if line and line != child[3]:
                _other_line(child, line, value)
            elif line and child[4] is not None:
                child[4][line] += value
            node = child

    return _flatten(root, frames, value_type, count_index, profile)


def _other_line(node: list, line: int, value: int) -> None:
    """Record weight on a second line of a node; the heavier line becomes the node's line."""
    lines = node[4]
    if lines is None:
        if not node[3]:
            node[3] = line
            return
        # Everything so far was on node[3], except this value (already added to the total).
        lines = node[4] = {node[3]: node[1] - value}
    lines[line] = lines.get(line, 0) + value
    if lines[line] > lines.get(node[3], 0):
        node[3] = line


def _flatten(root: list, frames: list[TreeFrame], value_type, count_index, profile) -> CallTree:
    order = sorted(
        range(len(frames)),
        key=lambda i: (frames[i].name, frames[i].kind, frames[i].file, frames[i].module),
    )
    rank = {fid: r for r, fid in enumerate(order)}
    frame: list[int] = []
    depth: list[int] = []
    total: list[int] = []
    line: list[int] = []
    count: list[int] = []
    stack = [(-1, 0, root)]
    while stack:  # iterative preorder: stacks can be deeper than Python's recursion limit
        fid, d, node = stack.pop()
        frame.append(fid)
        depth.append(d)
        total.append(node[1])
        line.append(node[3])
        count.append(node[2])
        kids = sorted(node[0].items(), key=lambda kv: rank[kv[0]], reverse=True)
        stack.extend((k, d + 1, child) for k, child in kids)
    return CallTree(
        frames=frames,
        frame=frame,
        depth=depth,
        total=total,
        line=line,
        count=count if count_index is not None else None,
        value_type=value_type,
        count_type=profile.sample_type[count_index] if count_index is not None else None,
    )
