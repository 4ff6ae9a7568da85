"""Fixtures shared by the reader tests: pinning to one CPU, and the maps + emitter program."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pybpf.maps import MapSpec, MapType, possible_cpus
from pybpf.programs import ProgramSpec, ProgramType

from .programs import emit_records


@contextlib.contextmanager
def pinned_to(cpu: int) -> Iterator[None]:
    """Run this thread on ``cpu`` only (so every record lands in that CPU's ring)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


@contextlib.contextmanager
def emitter(sink_type: MapType, *, ring_size: int = 4096, vary_size: bool = True):
    """A sink map (perf event array or ring buffer), a counter and the loaded emitter program.

    Yields ``(sink, emit)``; ``emit(n)`` runs the program ``n`` times with BPF_PROG_TEST_RUN.
    """
    if sink_type == MapType.PERF_EVENT_ARRAY:
        sink_spec = MapSpec("events", sink_type, 4, 4, possible_cpus())
        helper = "perf_event_output"
    else:
        sink_spec = MapSpec("ring", sink_type, 0, 0, ring_size)
        helper = "ringbuf_output"
    with (
        sink_spec.create() as sink,
        MapSpec("seq", MapType.ARRAY, 4, 8, 1).create() as counter,
    ):
        program = emit_records(sink, counter, helper=helper, vary_size=vary_size)
        with ProgramSpec("emit", ProgramType.SOCKET_FILTER, program).load() as prog:

            def emit(n: int) -> None:
                prog.test_run(data_in=bytes(64), repeat=n)

            yield sink, emit
