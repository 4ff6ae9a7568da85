"""The top table's rows (function, process, library, [k]) and the live view's window, from
built profiles: no root. pprof_encoder's own top (by function name only) is the oracle."""

from __future__ import annotations

import random

import pytest

from pprof_encoder import Frame, Mapping, ProfileBuilder
from pprof_encoder.top import top_rows
from profiler.output.top_table import (
    SORT_KEYS,
    RowKey,
    Tally,
    TallyWindow,
    format_top_table,
)

KERNEL = Mapping(filename="[kernel.kallsyms]")
LIBPY = Mapping(filename="/usr/lib/libpython3.11.so.1.0", start=0x7F00, limit=0x8F00)
APP = Mapping(filename="/opt/app/bin/server", start=0x1000, limit=0x2000)


def builder() -> ProfileBuilder:
    return ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"))


def frame(name: str, mapping: Mapping) -> Frame:
    return Frame(name, mapping=mapping, address=mapping.start + len(name))


def test_same_function_in_two_processes_is_two_rows_and_kernel_is_marked():
    b = builder()
    py = {"pid": 1, "process_name": "python3"}
    other = {"pid": 2, "process_name": "celery"}
    eval_ = frame("_PyEval_EvalFrameDefault", LIBPY)
    b.add_sample([eval_, frame("main", APP)], [5, 50], py)
    b.add_sample([eval_], [3, 30], other)
    b.add_sample([frame("tcp_sendmsg", KERNEL), eval_], [2, 20], py)
    tally = Tally.of(b.build())
    rows = {(r.key.function, r.key.where, r.key.marker): (r.flat, r.cum) for r in tally.rows()}
    assert rows[("_PyEval_EvalFrameDefault", "python3 (libpython3.11.so.1.0)", "[.]")] == (5, 7)
    assert rows[("_PyEval_EvalFrameDefault", "celery (libpython3.11.so.1.0)", "[.]")] == (3, 3)
    assert rows[("tcp_sendmsg", "python3 (kernel)", "[k]")] == (2, 2)
    assert rows[("main", "python3 (server)", "[.]")] == (0, 5)
    assert tally.total == 10
    table = format_top_table([r for r in tally.rows() if r.flat], tally.total)
    lines = table.splitlines()
    assert lines[0].split() == ["flat", "flat%", "cum", "cum%", "process", "(library)", "function"]
    assert "50.00%" in lines[1] and lines[1].endswith("[.] _PyEval_EvalFrameDefault")
    assert any(line.endswith("[k] tcp_sendmsg") and "python3 (kernel)" in line for line in lines)


def test_own_executable_shows_the_process_alone():
    # comm is cut to 15 characters; the executable's name is longer.
    key = RowKey("leaf", "calltree-258e8b", "calltree-258e8bb2134c918b", False)
    assert key.where == "calltree-258e8b"
    assert RowKey("f", "", "libc.so.6", False).where == "libc.so.6"
    assert RowKey("f", "app", "", False).where == "app"


def test_folded_kernel_suffix_is_a_kernel_row():
    b = builder()
    b.add_sample(["do_syscall_64_[k]", "main"], [4, 40], {"process_name": "app"})
    (row,) = [r for r in Tally.of(b.build()).rows() if r.flat]
    assert row.key == RowKey("do_syscall_64", "app", "kernel", True)


def test_recursion_counts_once_in_total():
    b = builder()
    f = frame("walk", APP)
    b.add_sample([f, f, f, frame("main", APP)], [2, 20], {"process_name": "server"})
    rows = {r.key.function: (r.flat, r.cum) for r in Tally.of(b.build()).rows()}
    assert rows == {"walk": (2, 2), "main": (0, 2)}


def random_profile(seed: int):
    rnd = random.Random(seed)
    names = [f"fn{i}" for i in range(30)]
    b = builder()
    for _ in range(300):
        stack = [frame(rnd.choice(names), APP) for _ in range(rnd.randint(1, 8))]
        n = rnd.randint(1, 9)
        b.add_sample(stack, [n, n * 10], {"pid": 7, "process_name": "server"})
    return b.build()


@pytest.mark.parametrize("seed", range(5))
def test_one_process_one_library_agrees_with_pprof_encoder_top(seed):
    profile = random_profile(seed)
    ours = {r.key.function: (r.flat, r.cum) for r in Tally.of(profile).rows()}
    oracle, total = top_rows(profile, 0)
    assert ours == {r.name: (r.flat, r.cum) for r in oracle}
    assert Tally.of(profile).total == total


def test_tallies_add_up_like_the_merged_profile():
    a, b = random_profile(1), random_profile(2)
    merged = builder()
    for p in (a, b):
        for s in p.samples:
            frames = [frame(loc.lines[0].function.name, APP) for loc in s.locations]
            merged.add_sample(frames, list(s.values), {"pid": 7, "process_name": "server"})
    summed = Tally.of(a)
    summed.add(Tally.of(b))
    whole = Tally.of(merged.build())
    assert summed.counts == whole.counts and summed.total == whole.total


def test_sort_keys():
    tally = Tally.of(random_profile(3))
    assert SORT_KEYS == ("self", "total", "function", "process")
    by_self = tally.rows("self")
    assert [r.flat for r in by_self] == sorted((r.flat for r in by_self), reverse=True)
    by_total = tally.rows("total")
    assert [r.cum for r in by_total] == sorted((r.cum for r in by_total), reverse=True)
    by_name = [r.key.function for r in tally.rows("function")]
    assert by_name == sorted(by_name)
    with pytest.raises(ValueError, match="unknown sort key"):
        tally.rows("name")


def one(n: int) -> Tally:
    b = builder()
    b.add_sample([frame("f", APP)], [n, n], {"process_name": "p"})
    return Tally.of(b.build())


def test_window_keeps_the_last_seconds_and_the_whole_run():
    window = TallyWindow(3.0)
    for n in range(1, 7):  # six 1-second intervals with 1..6 samples
        window.add(one(n), 1.0)
    tally, seconds = window.window()
    assert (tally.total, seconds) == (4 + 5 + 6, 3.0)
    assert (window.cumulative.total, window.cumulative_seconds) == (21, 6.0)
    long = TallyWindow(10.0)
    long.add(one(2), 2.5)  # never less than the newest interval
    assert long.window() == (long.cumulative, 2.5)
