"""Fuzzing the perf map parser (``/tmp/perf-PID.map``, written by the profiled process)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from profiler.symbolize.perf_map import PerfMap, PerfMapError

from .harness import Case, fuzz_settings, run_case
from .mutations import apply, mutations


def _line_fields(text: bytes) -> list[tuple[int, int]]:
    """The start of every line and of its size field: where numbers are parsed."""
    fields = []
    at = 0
    for line in text.split(b"\n"):
        space = line.find(b" ")
        fields += [(at, 8), (at + max(space, 0), 8)]
        at += len(line) + 1
    return fields


@fuzz_settings()
@given(data=st.data())
def test_perf_map_text(seeds, data):
    seed = seeds.perf_map.encode()
    raw = apply(seed, data.draw(mutations(len(seed), _line_fields(seed))))
    text = raw.decode("utf-8", "replace")
    probes = [int(line.split()[0], 16) for line in seeds.perf_map.splitlines()[::20]]

    def body(case: Case) -> None:
        table = case.step(PerfMap.parse, text)
        if table is not None:
            for address in probes:
                table.lookup(address)
                table.lookup(address + 1)

    run_case("perf_map", (PerfMapError,), len(raw), body)
