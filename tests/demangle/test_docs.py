"""docs/demangle.md stays true: its examples run."""

from __future__ import annotations

import pytest

from tests.docs_examples import examples, params, run


def test_the_doc_has_examples():
    assert examples("docs/demangle.md")


@pytest.mark.parametrize("example", params("docs/demangle.md"))
def test_example_runs(example):
    run(example)
