"""python -m profiler.process.events: one line per event."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.process.events.cli import format_event
from profiler.process.events.watcher import ExecEvent, ExitEvent, ForkEvent, Overrun

ROOT = Path(__file__).resolve().parents[2]


def test_format_event_names_each_kind():
    assert "fork" in format_event(ForkEvent(1, 1, 5, 5, 2_000_000_000))
    assert "thread" in format_event(ForkEvent(1, 1, 5, 6, 0))
    assert format_event(ExecEvent(5, 5, 1_500_000_000)) == "1.500000 exec    5"
    assert format_event(ExitEvent(5, 5, 3 << 8, 17, 0)).endswith("exit    5 status 3")
    assert format_event(ExitEvent(5, 5, 9, 17, 0)).endswith("signal 9")
    assert "overrun" in format_event(Overrun(2))


@pytest.mark.bpf
def test_cli_prints_events_of_a_child():
    cli = subprocess.Popen(
        [sys.executable, "-m", "profiler.process.events", "--count", "1000000"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: set[str] = set()
    found: list[str] = []
    try:
        # The CLI subscribes at some point after it starts: spawn until one exec is printed.
        # A busy machine prints many other lines: each is looked at once.
        for _ in range(100):
            child = subprocess.Popen(["/bin/true"])
            child.wait()
            pids.add(str(child.pid))
            for _ in range(10_000):  # the bound only stops a bug
                if not select.select([cli.stdout], [], [], 0.1)[0]:
                    break
                fields = cli.stdout.readline().split()
                if not fields:
                    break  # EOF: the CLI died (the assert below says so)
                if fields[1] == "exec" and fields[2] in pids:
                    found.append(fields[2])
                    break
            if found or cli.poll() is not None:
                break
    finally:
        cli.kill()
        cli.wait()
        cli.stdout.close()
    assert found, f"no exec of our children printed (CLI exit code {cli.returncode})"
