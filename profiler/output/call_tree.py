"""A profile's stacks aggregated into one call tree: what flame graphs draw.

Built once on the Python side so a viewer gets a compact tree instead of every sample: nodes in
preorder (children sorted by name, so the output is deterministic), each with its frame, depth,
total value and, when the profile counts samples, its sample count. A node's self value is its
total minus its children's. Frames are merged by function (name, kind, source file, binary), not by
line: a node remembers the line that carried most of its weight.

The first level under the root is the process name (the ``process_name`` label) when samples have
one, as in flamegraph.pl's output of perf; inlined functions are frames of their own.

How it is fast: the preorder of a tree whose children are sorted is the sorted order of its
root-to-leaf paths. So stacks become tuples of frame ranks (rank = position in name order), are
sorted (in C), and each one adds only the nodes below its common prefix with the one before.
Totals are summed bottom-up at the end. A tree with more than ``max_nodes`` nodes keeps the
heaviest ones (a node is never lighter than its callees, so what is kept stays a tree): the nodes
dropped are far narrower than a pixel, and their value stays in their callers' self.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter

from pprof_encoder.profile import Profile, ValueType

from .frame_kinds import classify, line_kinds
from .palette import PROCESS

MAX_NODES = 400_000


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

    frames: list[TreeFrame]  # sorted by (name, kind, file, module)
    frame: list[int]
    depth: list[int]
    total: list[int]
    line: list[int]  # the line with most weight in the node (0: unknown)
    count: list[int] | None  # samples per node (None: no samples/count type besides value_type)
    value_type: ValueType
    count_type: ValueType | None
    hidden_nodes: int = (
        0  # nodes dropped to stay within max_nodes (their value is in callers' self)
    )
    max_hidden: int = 0  # the heaviest node dropped

    def self_values(self, values: list[int] | None = None) -> list[int]:
        """Each node's self part of ``values`` (the totals by default): total minus children's."""
        values = self.total if values is None else values
        own = list(values)
        path = [0]
        for i in range(1, len(self.depth)):
            d = self.depth[i]
            del path[d:]
            own[path[-1]] -= values[i]
            path.append(i)
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


def _common_prefix(a: tuple, b: tuple) -> int:
    """The length of the common prefix of two tuples (binary search over C-level compares)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def build_call_tree(
    profile: Profile,
    sample_index: int | None = None,
    *,
    by_process: bool = True,
    max_nodes: int = MAX_NODES,
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

    # Each location once: its frames and lines, root first (a location's lines are innermost
    # first).
    loc_frames: dict[int, list[int]] = {}
    loc_lines: dict[int, list[int]] = {}
    for loc in profile.locations:
        module = loc.mapping.filename if loc.mapping is not None else ""
        if loc.lines:
            kinds = line_kinds(loc)
            fids = [
                frame_id(TreeFrame(ln.function.name or "??", kind, ln.function.filename, module))
                for ln, kind in zip(loc.lines, kinds, strict=True)
            ]
            lines = [ln.line for ln in loc.lines]
        else:
            kind = classify("", "", module or None)
            fids = [frame_id(TreeFrame(f"0x{loc.address:x}", kind, "", module))]
            lines = [0]
        loc_frames[id(loc)] = fids[::-1]
        loc_lines[id(loc)] = lines[::-1]

    # Equal stacks of different threads or labels merge first.
    merged: dict[tuple, list[int]] = {}
    uncounted = False  # a sample with a value and no sample count
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
        key = (process, tuple(map(id, s.locations)))
        count = s.values[count_index] if count_index is not None else 0
        uncounted = uncounted or (count_index is not None and not count)
        entry = merged.get(key)
        if entry is None:
            merged[key] = [value, count]
        else:
            entry[0] += value
            entry[1] += count
    if uncounted:
        # Values without samples (off-CPU time beside CPU samples): counts would not count
        # what the graph shows, so the tree shows values only.
        count_index = None

    order = sorted(range(len(frames)), key=lambda i: _sort_key(frames[i]))
    rank = [0] * len(frames)
    for r, fid in enumerate(order):
        rank[fid] = r
    sorted_frames = [frames[i] for i in order]
    loc_ranks = {k: [rank[f] for f in v] for k, v in loc_frames.items()}

    entries = []
    for (process, loc_ids), (value, count) in merged.items():
        if len(loc_ids) > 1:  # itemgetter: the lookups in C (a stack has tens of locations)
            pick = itemgetter(*loc_ids[::-1])
            ranks = tuple(chain.from_iterable(pick(loc_ranks)))
            lines = list(chain.from_iterable(pick(loc_lines)))
        else:
            ranks = tuple(loc_ranks[loc_ids[0]]) if loc_ids else ()
            lines = list(loc_lines[loc_ids[0]]) if loc_ids else []
        if process >= 0:
            ranks = (rank[process], *ranks)
            lines.insert(0, 0)
        entries.append((ranks, lines, value, count))
    entries.sort(key=lambda e: e[0])

    # Preorder = sorted paths. path[d] is the open node at depth d; open_lines[i] the line the
    # node at depth i + 1 was created with. Weight on other lines goes to other_lines[node].
    frame = [-1]
    depth = [0]
    parent = [-1]
    own = [0]
    own_count = [0]
    line = [0]
    other_lines: dict[int, dict[int, int]] = {}
    path = [0]
    open_lines: list[int] = []
    prev: tuple = ()
    for ranks, lines, value, count in entries:
        k = _common_prefix(prev, ranks)
        if k and lines[:k] != open_lines[:k]:
            for i in range(k):
                if lines[i] != open_lines[i]:
                    weights = other_lines.setdefault(path[i + 1], {})
                    weights[lines[i]] = weights.get(lines[i], 0) + value
        del path[k + 1 :]
        del open_lines[k:]
        new = len(ranks) - k
        if new:  # a chain of new nodes, each the parent of the next (appended in bulk)
            first = len(frame)
            parent.append(path[-1])
            parent.extend(range(first, first + new - 1))
            path.extend(range(first, first + new))
            frame.extend(ranks[k:])
            depth.extend(range(k + 1, len(ranks) + 1))
            own.extend([0] * new)
            own_count.extend([0] * new)
            line.extend(lines[k:])
            open_lines.extend(lines[k:])
        own[path[-1]] += value
        own_count[path[-1]] += count
        prev = ranks

    total = own
    counts = own_count
    for i in range(len(frame) - 1, 0, -1):  # children come after their parent in preorder
        total[parent[i]] += total[i]
        counts[parent[i]] += counts[i]
    for node, weights in other_lines.items():
        weights[line[node]] = total[node] - sum(weights.values())
        line[node] = max(weights.items(), key=lambda kv: (kv[1], -kv[0]))[0]

    tree = CallTree(
        frames=sorted_frames,
        frame=frame,
        depth=depth,
        total=total,
        line=line,
        count=counts if count_index is not None else None,
        value_type=value_type,
        count_type=profile.sample_type[count_index] if count_index is not None else None,
    )
    if len(frame) > max_nodes:
        _keep_heaviest(tree, max_nodes, parent)
    return tree


def _sort_key(f: TreeFrame) -> tuple[str, str, str, str]:
    return (f.name, f.kind, f.file, f.module)


def _keep_heaviest(tree: CallTree, max_nodes: int, parent: list[int]) -> None:
    """Keep the ``max_nodes`` heaviest nodes; among equally heavy ones at the cut, the shallower
    first (then preorder). A node's parent is never lighter, so what is kept stays a tree."""
    total = tree.total
    n = len(total)
    # The cut from a histogram of the totals (most are equal): no sort of n values.
    histogram = Counter(total)
    seen = 0
    cut = 0
    below = 0  # the heaviest total under the cut
    values = sorted(histogram, reverse=True)
    for j, v in enumerate(values):
        seen += histogram[v]
        if seen >= max_nodes:
            cut = v
            below = values[j + 1] if j + 1 < len(values) else 0
            break
    keep = list(map(cut.__lt__, total))
    keep[0] = True
    room = max_nodes - sum(keep)
    depth = tree.depth
    tied = sorted(compress(range(1, n), map(cut.__eq__, total[1:])), key=depth.__getitem__)
    for i in tied:
        if room <= 0:
            break
        if keep[parent[i]]:
            keep[i] = True
            room -= 1
    kept = list(compress(range(n), keep))
    tree.hidden_nodes = n - len(kept)
    tree.max_hidden = cut if not all(map(keep.__getitem__, tied)) else below
    pick = itemgetter(*kept)
    tree.frame = list(pick(tree.frame))
    tree.depth = list(pick(depth))
    tree.total = list(pick(total))
    tree.line = list(pick(tree.line))
    if tree.count is not None:
        tree.count = list(pick(tree.count))
