"""Running one fuzz case: only the reader's documented errors, bounded memory, bounded time.

A case runs a reader's public API over one mutated input, step by step (:meth:`Case.step`): a
step may raise the reader's documented error (counted) and the case goes on with the next step;
anything else fails the test with the reader's name. Around the case, ``tracemalloc`` measures
the peak of new allocations, which must stay under :func:`memory_bound` of the input's size, and
an interval timer stops a case that runs longer than :data:`CASE_SECONDS`. (Tracing starts
and stops around each case: tracing hypothesis' own work would triple the time of a test.)

Budget: :data:`CASES` cases per reader, ``PUREPROF_FUZZ_CASES`` when set (the long mode, e.g.
10000), else a CI budget that keeps all the fuzz tests well under a minute. Counts per reader
(cases, cases that raised a documented error, anything else) are printed at the end of the run
and written as JSON to ``PUREPROF_FUZZ_REPORT`` when that is set.
"""

from __future__ import annotations

import os
import signal
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings

LONG_MODE = "PUREPROF_FUZZ_CASES" in os.environ
CASES = int(os.environ.get("PUREPROF_FUZZ_CASES") or 30)
CASE_SECONDS = 120 if LONG_MODE else 30  # generous: the machine running them may be busy
# Per reader: cases run, cases with a documented error, cases with any other outcome.
COUNTS: dict[str, Counter] = {}


def fuzz_settings(cases: int = CASES) -> settings:
    """Hypothesis settings of a fuzz test: ``cases`` examples, no deadline (the harness times
    cases itself), deterministic in the CI budget, random in the long mode."""
    return settings(
        max_examples=cases,
        deadline=None,
        derandomize=not LONG_MODE,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def memory_bound(input_size: int) -> int:
    """The most a case may allocate: 64 bytes per input byte, plus 48 MiB (the DWARF index of
    a seed, pyelftools' unit objects, a table of rows)."""
    return 64 * input_size + (48 << 20)


class CaseTimeout(BaseException):
    """A case ran longer than :data:`CASE_SECONDS` (a BaseException: readers cannot catch it)."""


@contextmanager
def _time_limit(seconds: float):
    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"a case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Case:
    """One input through one reader; see the module docstring."""

    def __init__(self, reader: str, documented: tuple[type[BaseException], ...]) -> None:
        self.reader = reader
        self.documented = documented
        self.raised: list[str] = []

    def step(self, fn: Callable[..., Any], *args: Any, documented: tuple = ()) -> Any:
        """``fn(*args)``, or ``None`` if it raised a documented error (of the reader, or
        ``documented`` for this step)."""
        try:
            return fn(*args)
        except self.documented + documented as e:
            self.raised.append(type(e).__name__)
            return None


def run_case(
    reader: str,
    documented: tuple[type[BaseException], ...],
    input_size: int,
    body: Callable[[Case], None],
) -> None:
    """Run ``body`` as one case of ``reader`` (see the module docstring)."""
    counts = COUNTS.setdefault(reader, Counter())
    case = Case(reader, documented)
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    began = time.monotonic()
    try:
        with _time_limit(CASE_SECONDS):
            body(case)
    except BaseException as e:
        counts["cases"] += 1
        counts["other"] += 1
        raise AssertionError(
            f"{reader}: {type(e).__name__} is not a documented error of this reader: {e}"
        ) from e
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if not started:
            tracemalloc.stop()
    counts["cases"] += 1
    counts["documented"] += bool(case.raised)
    counts["seconds"] += time.monotonic() - began
    counts["peak_bytes"] = max(counts["peak_bytes"], peak)
    bound = memory_bound(input_size)
    if peak > bound:
        counts["other"] += 1
        raise AssertionError(
            f"{reader}: a case allocated {peak} bytes for {input_size} bytes of input "
            f"(bound {bound})"
        )
