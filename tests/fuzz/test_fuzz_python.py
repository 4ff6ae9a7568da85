"""Fuzzing the readers of a CPython process's memory: code objects, line tables, the
interpreter's ``_Py_DebugOffsets`` and discovery, thread lists, and the walk's stored stacks.

Seeds are real bytes read from real interpreters (``python_seeds.py``), mutated; a reader may
raise only its documented error (``MemoryReadError`` for thread lists, ``UnsupportedPython`` for
the debug offsets, ``InterpreterNotFound`` for discovery; none for code objects, line tables and
stacks, which answer "unknown"), within the harness's memory and time bounds.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.bpf.python_layouts import MAX_FRAMES
from profiler.bpf.python_stacks import decode_stack
from profiler.python.code_objects import CodeObjects
from profiler.python.errors import InterpreterNotFound, MemoryReadError, UnsupportedPython
from profiler.python.interpreter import interpreter_at
from profiler.python.layouts import debug_offsets_layout
from profiler.python.line_table import LineTable
from profiler.python.threads import interpreter_states, thread_states
from tests.python_stacks import debian_roots
from tests.python_stacks import interpreters as I

from .harness import Case, fuzz_settings, run_case
from .mutations import apply, mutations
from .python_seeds import PythonSeed, SnapshotMemory, capture, split_blob


@pytest.fixture(scope="module")
def python_seeds() -> list[PythonSeed]:
    """The host's Debian CPython 3.11 and CPython 3.14 in a Debian root (chroot)."""
    return [
        capture(I.require(I.DEBIAN_311)),
        capture(I.require(I.chrooted(debian_roots.PYTHON314))),
    ]


def _seed(data: st.DataObject, seeds: list[PythonSeed]) -> PythonSeed:
    return data.draw(st.sampled_from(seeds), label="seed")


def _mutated_memory(data: st.DataObject, seed: PythonSeed) -> tuple[SnapshotMemory, int]:
    blob = b"".join(d for _, d in seed.segments)
    edits = data.draw(mutations(len(blob), seed.fields, max_mutations=6), label="edits")
    mutated = apply(blob, edits)
    gone_after = data.draw(st.sampled_from((-1, -1, -1, 1, 2, 3, 5)), label="gone after")
    return SnapshotMemory(split_blob(seed, mutated), gone_after), len(mutated)


@fuzz_settings()
@given(data=st.data())
def test_code_objects(python_seeds, data):
    """Names, files and lines of mutated code objects (and a process gone mid-read): never an
    exception, only ``<unknown code>``; bounded by the name and line-table caps."""
    seed = _seed(data, python_seeds)
    memory, size = _mutated_memory(data, seed)
    lay = seed.interpreter.layout

    def body(case: Case) -> None:
        codes = CodeObjects(memory, lay, seed.interpreter.code_type)
        for address, line in seed.codes:
            info = codes.get(address, line)
            for offset in (0, 2, 40, 1 << 20):
                info.line_at(offset)
            codes.get(address, 0)  # no first line to compare: the object as it reads now

    run_case("python_code", (), size, body)


@fuzz_settings()
@given(data=st.data())
def test_thread_lists(python_seeds, data):
    """The interpreter and thread-state lists of mutated memory: ``MemoryReadError`` only,
    and never more than the lists' bounds."""
    seed = _seed(data, python_seeds)
    memory, size = _mutated_memory(data, seed)

    def body(case: Case) -> None:
        case.step(interpreter_states, seed.interpreter, memory)
        states = case.step(thread_states, seed.interpreter, memory)
        assert states is None or len(states) <= 4096

    run_case("python_threads", (MemoryReadError,), size, body)


@fuzz_settings()
@given(data=st.data())
def test_line_tables(python_seeds, data):
    """Mutated location tables: every offset gets a line (or 0), nothing raises."""
    seed = _seed(data, python_seeds)
    table, first = data.draw(st.sampled_from(seed.line_tables), label="table")
    raw = apply(table, data.draw(mutations(len(table)), label="edits"))
    first = data.draw(st.sampled_from((first, 0, -1, 1 << 31, -(1 << 31))), label="first line")

    def body(case: Case) -> None:
        decoded = LineTable(raw, first)
        assert len(decoded) <= len(raw)
        for offset in range(-4, 2 * len(raw) + 8, 2):
            decoded.line_at(offset)

    run_case("python_lines", (), len(raw), body)


def _debug_fields(raw: bytes) -> list[tuple[int, int]]:
    count = (len(raw) - 8) // 8
    return [(0, 8)] + [(8 + 8 * i, 8) for i in range(count)]


@fuzz_settings()
@given(data=st.data())
def test_debug_offsets(python_seeds, data):
    """Mutated ``_Py_DebugOffsets`` (3.14's, read from the live interpreter): parsed to a layout
    or ``UnsupportedPython``; then discovery over it: ``InterpreterNotFound`` only."""
    seed = next(s for s in python_seeds if s.debug_offsets)
    good = seed.debug_offsets
    raw = apply(good, data.draw(mutations(len(good), _debug_fields(good)), label="edits"))
    runtime = 0x10000
    version = seed.interpreter.layout.version
    memory = SnapshotMemory([(runtime, raw + bytes(64)), (0x90000, version.to_bytes(4, "little"))])
    symbols = {"_PyRuntime": (runtime, 0), "Py_Version": (0x90000, 4)}

    def body(case: Case) -> None:
        case.step(debug_offsets_layout, raw, documented=(UnsupportedPython,))
        case.step(
            interpreter_at, 1, memory, symbols, 0, "/usr/bin/python3.14",
            documented=(InterpreterNotFound,),
        )  # fmt: skip

    run_case("python_debug", (), len(raw), body)


@fuzz_settings()
@given(raw=st.binary(max_size=4096), cut=st.integers(0, 2 * MAX_FRAMES))
def test_stored_stacks(raw, cut):
    """A ``py_stacks`` value of any bytes (the kernel writes it from target memory): at most
    ``MAX_FRAMES`` frames, never past the bytes given."""

    def body(case: Case) -> None:
        frames, _ = decode_stack(raw[: cut * 16 + 8] if cut else raw)
        assert len(frames) <= MAX_FRAMES

    run_case("python_stacks", (), len(raw), body)
