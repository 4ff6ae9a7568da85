"""The call tree the flame graphs draw, against a naive oracle: every prefix of every stack."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from pprof_encoder import Frame, Mapping, ProfileBuilder
from profiler.output.call_tree import build_call_tree
from profiler.output.frame_kinds import KERNEL, NATIVE, line_kinds
from tests.pprof_encoder.strategies import sample_lists

SAMPLE_TYPES = [("samples", "count"), ("cpu", "nanoseconds")]


def build(samples, processes=()):
    b = ProfileBuilder(SAMPLE_TYPES, ("cpu", "nanoseconds"), 1, default_sample_type="cpu")
    for i, (stack, values, labels) in enumerate(samples):
        labels = dict(labels)
        if processes:
            labels["process_name"] = processes[i % len(processes)]
        b.add_sample(stack, values, labels)
    return b.build()


def oracle(profile, index, by_process=True):
    """Totals of every root-first path of (name, kind, file, module), counted naively."""
    totals: Counter[tuple] = Counter()
    counts: Counter[tuple] = Counter()
    for s in profile.samples:
        value = s.values[index]
        if value <= 0:
            continue
        path: list[tuple] = []
        names = [lb.str for lb in s.labels if lb.key == "process_name" and lb.str]
        if by_process and names:
            path.append((names[0], "process", "", ""))
        for loc in reversed(s.locations):
            module = loc.mapping.filename if loc.mapping else ""
            if not loc.lines:
                path.append((f"0x{loc.address:x}", NATIVE, "", module))
            kinds = line_kinds(loc)
            for ln, kind in reversed(list(zip(loc.lines, kinds, strict=True))):
                path.append((ln.function.name or "??", kind, ln.function.filename, module))
        totals[()] += value
        counts[()] += s.values[0]
        for d in range(1, len(path) + 1):
            totals[tuple(path[:d])] += value
            counts[tuple(path[:d])] += s.values[0]
    return totals, counts


def tree_paths(tree):
    """{root-first path: node} from the preorder arrays."""
    out = {}
    path: list[tuple] = []
    for i in range(len(tree.frame)):
        d = tree.depth[i]
        del path[max(d - 1, 0) :]
        if i:
            f = tree.frames[tree.frame[i]]
            path.append((f.name, f.kind, f.file, f.module))
        out[tuple(path)] = i
    return out


@settings(max_examples=150, deadline=None)
@given(sample_lists, st.sampled_from([(), ("app",), ("app", "db", "app")]))
def test_every_node_total_is_the_sum_of_the_samples_under_its_path(samples, processes):
    profile = build(samples, processes)
    tree = build_call_tree(profile, 1)
    totals, counts = oracle(profile, 1)
    paths = tree_paths(tree)
    if not totals:
        assert tree.total == [0] and len(tree.frame) == 1
        return
    assert set(paths) == set(totals)  # one node per distinct prefix, none missing or extra
    assert len(paths) == len(tree.frame)
    for path, node in paths.items():
        assert tree.total[node] == totals[path], path
        if tree.count is not None:
            assert tree.count[node] == counts[path], path
    # Counts are shown unless a value has no sample count (off-CPU time beside CPU samples).
    uncounted = any(s.values[1] > 0 and not s.values[0] for s in profile.samples)
    assert (tree.count is None) == uncounted
    # Preorder with children sorted by (name, kind, file, module).
    for i in range(1, len(tree.frame)):
        assert tree.depth[i] <= tree.depth[i - 1] + 1
    own = tree.self_values()
    assert sum(own) == tree.total[0] and min(own) >= 0


def test_children_are_sorted_by_name_and_the_first_level_is_the_process():
    profile = build(
        [
            (["b", "main"], [1, 10], {}),
            (["a", "main"], [2, 20], {}),
            (["c", "main"], [3, 30], {}),
            (["z"], [4, 40], {}),
        ],
        processes=("zeta", "alpha", "zeta", "alpha"),
    )
    tree = build_call_tree(profile)
    names = [tree.frames[f].name if f >= 0 else "all" for f in tree.frame]
    assert names == ["all", "alpha", "main", "a", "z", "zeta", "main", "b", "c"]
    assert tree.depth == [0, 1, 2, 3, 2, 1, 2, 3, 3]
    assert tree.total == [100, 60, 20, 20, 40, 40, 40, 10, 30]
    assert [tree.frames[f].kind for f in tree.frame[1:2]] == ["process"]
    flat = build_call_tree(profile, by_process=False)
    assert [flat.frames[f].name for f in flat.frame[1:]] == ["main", "a", "b", "c", "z"]


def test_a_node_shows_the_line_that_carried_most_of_its_weight():
    app = Mapping(0x1000, 0x9000, 0, "/bin/app")

    def leaf(line, addr):
        return [Frame("hot", "hot.c", line, addr, app), Frame("main", "main.c", 5, 0x1100, app)]

    profile = build(
        [
            (leaf(10, 0x2000), [1, 3], {}),
            (leaf(12, 0x2004), [1, 5], {}),
            (leaf(10, 0x2000), [1, 1], {"x": "other"}),
            (leaf(14, 0x2008), [1, 2], {}),
        ]
    )
    tree = build_call_tree(profile)
    hot = tree.frame.index(next(i for i, f in enumerate(tree.frames) if f.name == "hot"))
    assert tree.total[hot] == 11
    assert tree.line[hot] == 12  # 5 on line 12 against 4 on line 10 and 2 on line 14
    main = tree.path(hot)[0]
    assert tree.line[main] == 5


def test_kernel_frames_and_inlined_lines_are_frames_of_their_own():
    kernel = Mapping(filename="[kernel.kallsyms]")
    app = Mapping(0x1000, 0x9000, 0, "/bin/app")
    stack = [
        Frame("do_syscall_64", address=0xFFFF10, mapping=kernel),
        Frame("inlined_helper", "a.c", 3, 0x2000, app, inlined=True),
        Frame("caller", "a.c", 9, 0x2000, app),
    ]
    tree = build_call_tree(build([(stack, [1, 7], {})]))
    frames = [tree.frames[f] for f in tree.frame[1:]]
    assert [(f.name, f.kind) for f in frames] == [
        ("caller", NATIVE),
        ("inlined_helper", NATIVE),
        ("do_syscall_64", KERNEL),
    ]
    assert frames[2].module == "[kernel.kallsyms]"


def test_a_tree_over_budget_keeps_its_heaviest_nodes_and_stays_a_tree():
    samples = [([f"leaf{i}", f"mid{i % 7}", "main"], [1, 1 + i % 5], {}) for i in range(300)]
    profile = build(samples)
    full = build_call_tree(profile)
    small = build_call_tree(profile, max_nodes=40)
    assert len(full.frame) == 1 + 1 + 7 + 300
    assert len(small.frame) == 40
    assert small.hidden_nodes == len(full.frame) - 40
    assert small.total[0] == full.total[0]  # widths do not change, only depth is cut
    kept = tree_paths(small)
    all_paths = {p: full.total[n] for p, n in tree_paths(full).items()}
    for path, node in kept.items():
        assert all_paths[path] == small.total[node]  # kept nodes keep their totals
        assert path[:-1] in kept  # their callers are kept
    lightest_kept = min(small.total)
    dropped = [v for p, v in all_paths.items() if p not in kept]
    assert max(dropped) <= lightest_kept == small.max_hidden


def test_deep_stacks_do_not_recurse():
    stack = [f"f{i}" for i in range(5000)]
    tree = build_call_tree(build([(stack, [1, 1], {})]))
    assert max(tree.depth) == 5000 and tree.total[-1] == 1
