"""docs/pybpf-events.md stays true: every Python example in it runs (as root) and prints
what its comments say where they say it exactly."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pybpf-events.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_examples():
    assert len(examples()) >= 5


@pytest.mark.bpf
@pytest.mark.parametrize("index", range(len(examples())))
def test_example_runs(index, no_fd_leak):
    code = examples()[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{DOC.name} example {index}", "exec"), {"__name__": "__doc_example__"})
    printed = out.getvalue().splitlines()
    # Comments of the form `print(...)   # text` promise that output; check the exact ones
    # (those without "about", "e.g." or "...").
    promised = [m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", code, re.M)]
    exact = [p for p in promised if not re.search(r"about|e\.g\.|\.\.\.", p)]
    for promise in exact:
        assert any(line == promise or promise in line for line in printed), (promise, printed)
