"""The live view's screen as text and its keys (no terminal, no root)."""

from __future__ import annotations

from pprof_encoder import Frame, Mapping, ProfileBuilder
from profiler.cli.top_screen import KEYS_HELP, TopState, render
from profiler.output.top_table import Tally

APP = Mapping(filename="/opt/app/bin/server", start=0x1000, limit=0x2000)
KERNEL = Mapping(filename="[kernel.kallsyms]")


def tally() -> Tally:
    b = ProfileBuilder([("samples", "count")])
    labels = {"process_name": "server"}
    long_name = "leaf_" + "x" * 200
    b.add_sample([Frame(long_name, mapping=APP), Frame("main", mapping=APP)], [60], labels)
    b.add_sample([Frame("sys_read", mapping=KERNEL), Frame("main", mapping=APP)], [40], labels)
    return Tally.of(b.build())


def test_screen_shows_shares_seconds_and_kinds_cut_to_the_terminal():
    state = TopState(title="pid 42", freq=100, window_s=5)
    lines = render(state, tally(), 1.0, width=100, height=20)
    assert lines[0] == "pureprof top — pid 42"
    assert lines[1].startswith("last 1 s: 100 samples, 1.00 CPUs busy · 100 Hz · sort: self")
    assert lines[3].split()[:4] == ["self%", "total%", "self", "s"]
    leaf, sys_read = lines[4], lines[5]
    assert leaf.startswith(" 60.00%  60.00%     0.60     0.60  server") and "[.] leaf_x" in leaf
    assert sys_read.startswith(" 40.00%  40.00%") and "server (kernel)" in sys_read
    assert sys_read.endswith("[k] sys_read")
    assert all(len(line) <= 100 for line in lines) and leaf.endswith("…")
    assert lines[-1] == KEYS_HELP


def test_height_limits_the_rows():
    state = TopState(title="t", freq=100, window_s=5)
    for height, rows in ((7, 1), (8, 2), (30, 3)):
        lines = render(state, tally(), 1.0, width=120, height=height)
        assert len(lines) == 6 + rows and lines[-1] == KEYS_HELP
        assert sum("%" in line for line in lines[4:]) == rows


def test_keys_sort_switch_pause_and_quit():
    state = TopState(title="t", freq=100, window_s=5)
    assert state.press("t") and state.sort == "total"
    lines = render(state, tally(), 1.0, width=120, height=20)
    assert "sort: total" in lines[1] and "[.] main" in lines[4]  # main: 100 % total
    assert state.press("w") and state.cumulative
    assert render(state, tally(), 7.0, width=120, height=20)[1].startswith("all 7 s:")
    assert state.press(" ") and state.paused
    assert "PAUSED" in render(state, tally(), 1.0, width=120, height=20)[1]
    assert state.press("x")  # unknown keys are ignored
    for quit_key in ("q", "Q", "\x03"):
        assert not state.press(quit_key)


def test_no_samples_yet():
    lines = render(TopState(title="t", freq=99, window_s=5), Tally(), 0.0, width=80, height=20)
    assert "0 samples, 0.00 CPUs busy" in lines[1] and "  (no samples yet)" in lines
