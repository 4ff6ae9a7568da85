"""The 3.11+ location-table decoder against each interpreter's own ``co_lines()``, and against
hostile bytes (a target writes them)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.python.line_table import LineTable

from . import interpreters as I

# Every code object of a stdlib module (dis, and its nested functions), with co_lines().
DUMP = r"""
import dis, json, sys, types
def walk(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            yield from walk(c)
src = open(dis.__file__).read()
out = []
for c in walk(compile(src, dis.__file__, "exec")):
    lines = {}
    for start, end, line in c.co_lines():
        for off in range(start, end, 2):
            lines[off] = line or 0
    out.append([c.co_linetable.hex(), c.co_firstlineno, lines])
sys.stdout.write(json.dumps(out))
"""

CASES = [I.DEBIAN_311, I.PYENV_312, I.PYENV_313]


def _check(interp: I.Interp) -> None:
    codes = json.loads(I.run(interp, DUMP))
    assert len(codes) > 20
    units = 0
    for table, first, lines in codes:
        decoded = LineTable(bytes.fromhex(table), first)
        for offset, line in lines.items():
            units += 1
            assert decoded.line_at(int(offset)) == line, (interp.name, first, offset)
    assert units > 5000


@pytest.mark.parametrize("interp", CASES, ids=lambda i: i.name)
def test_lines_match_co_lines(interp):
    _check(I.require(interp))


def test_lines_match_co_lines_314():
    _check(I.require(I.chrooted(I.debian_roots.PYTHON314)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(-(2**31), 2**31), st.integers(-10, 5000))
def test_hostile_tables_never_raise(table, first, offset):
    decoded = LineTable(table, first)
    assert isinstance(decoded.line_at(offset), int)
    assert len(decoded) <= len(table)


def test_offsets_past_the_table_have_no_line():
    decoded = LineTable(bytes([0x80 | (10 << 3) | 1, 0, 0]), 7)  # one-line form, 2 units
    assert decoded.line_at(0) == 7 and decoded.line_at(2) == 7
    assert decoded.line_at(4) == 0 and decoded.line_at(-2) == 0
