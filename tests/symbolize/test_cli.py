"""The command line: python -m profiler.symbolize."""

from __future__ import annotations

import subprocess
import sys

from .native_programs import running


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "profiler.symbolize", *args], capture_output=True, text=True
    )


def test_symbolizes_addresses_of_a_process(debug_program, no_fd_leak):
    with running(debug_program["full"]) as prog:
        alpha, beta = prog.addresses["alpha"], prog.addresses["beta"]
        done = _cli("--pid", str(prog.pid), f"{alpha:x}", f"0x{beta + 1:x}", "--stats")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"0x{alpha:x} alpha ")
    assert lines[-1].startswith(f"0x{beta + 1:x} beta ")
    assert all(line.endswith(str(debug_program["full"])) for line in lines)
    assert "user_addresses = 2" in done.stderr


def test_rejects_what_is_not_an_address():
    done = _cli("--kernel", "not-hex")
    assert done.returncode == 2
    assert "not a hex address" in done.stderr
