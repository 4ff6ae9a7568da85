"""docs/symbolize.md stays true: its Python examples run as they are."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "symbolize.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_examples():
    assert len(examples()) >= 3


@pytest.mark.parametrize("index", range(len(examples())))
def test_example_runs(index, no_fd_leak):
    code = examples()[index]
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"{DOC.name} example {index}", "exec"), {"__name__": "__doc_example__"})
