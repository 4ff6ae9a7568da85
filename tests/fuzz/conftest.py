"""Fixtures of the fuzz tests: the seeds (built once per session), tracing memory, the report."""

from __future__ import annotations

import json
import os

import pytest

from .harness import CASES, COUNTS, LONG_MODE
from .seeds import Seeds, build_seeds
from .targets import addresses


@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> Seeds:
    """Every seed binary and image (see ``seeds.py``), their lookup addresses computed (and
    cached) before any case, so a case's memory is the reader's alone."""
    built = build_seeds(tmp_path_factory.mktemp("fuzz-seeds"))
    for image in (*built.elf.values(), built.vdso):
        addresses(image)
    return built


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the cases per reader (and write them to $PUREPROF_FUZZ_REPORT if set)."""
    if not COUNTS:
        return
    mode = "long mode" if LONG_MODE else "CI budget"
    write = terminalreporter.write_line
    write(f"fuzz cases per reader ({mode}, {CASES} per test):")
    write(f"  {'reader':<16}{'cases':>8}{'documented':>12}{'other':>8}{'peak MiB':>10}{'s':>8}")
    for reader, c in sorted(COUNTS.items()):
        write(
            f"  {reader:<16}{c['cases']:>8}{c['documented']:>12}{c['other']:>8}"
            f"{c['peak_bytes'] / 2**20:>10.1f}{c['seconds']:>8.1f}"
        )
    path = os.environ.get("PUREPROF_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({reader: dict(c) for reader, c in COUNTS.items()}, f, indent=2)
