"""docs/unwind.md stays true: its examples run from the repository's root and print."""

from __future__ import annotations

import pytest

from tests.docs_examples import ROOT, params, run
from tests.support import require_tool


@pytest.mark.parametrize("example", params("docs/unwind.md"))
def test_example_runs(example, monkeypatch):
    require_tool("gcc")
    monkeypatch.chdir(ROOT)
    assert run(example).strip()
