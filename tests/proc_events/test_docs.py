"""docs/proc_events.md stays true: its Python examples run as they are (root ones as root)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.support import require_root

DOC = Path(__file__).resolve().parents[2] / "docs" / "proc_events.md"
BLOCK = re.compile(r"(<!-- readme-test: (\w+) -->\n)?```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return [(m.group(2) or "", m.group(3)) for m in BLOCK.finditer(DOC.read_text())]


def test_the_doc_has_examples():
    assert len(examples()) >= 4


@pytest.mark.parametrize("index", range(len(examples())))
def test_example_runs(index, no_fd_leak):
    mark, code = examples()[index]
    if mark == "root":
        require_root()
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"{DOC.name} example {index}", "exec"), {"__name__": "__doc_example__"})
