"""docs/pybpf-events.md stays true: its examples run and print what their comments promise."""

from __future__ import annotations

import re

import pytest

from tests.docs_examples import examples, params, run

DOC = "docs/pybpf-events.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 5


@pytest.mark.bpf
@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example, no_fd_leak):
    printed = run(example).splitlines()
    # Comments of the form `print(...)   # text` promise that output; check the exact ones
    # (those without "about", "e.g." or "...").
    promised = [
        m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", example.code, re.M)
    ]
    exact = [p for p in promised if not re.search(r"about|e\.g\.|\.\.\.", p)]
    for promise in exact:
        assert any(line == promise or promise in line for line in printed), (promise, printed)
