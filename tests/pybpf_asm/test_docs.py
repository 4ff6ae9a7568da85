"""docs/asm.md stays true: its Python examples run, and the listing it shows is what they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "asm.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(examples())))
def test_example_runs(index):
    code = examples()[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{DOC.name} example {index}", "exec"), {"__name__": "__doc_example__"})
    following = DOC.read_text().split(code, 1)[1]
    shown = re.match(r"```\n\nprints\n\n```\n(.*?)```", following, re.S)
    if shown:
        assert out.getvalue() == shown.group(1)
