"""The README section's Python examples and the package docstring run as written."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import pprof_encoder

DOC = Path(__file__).resolve().parents[2] / "docs" / "pprof_encoder.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_runs(code, capsys):
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})


def test_package_docstring_example():
    failures, tests = doctest.testmod(pprof_encoder)
    assert tests > 0 and failures == 0
