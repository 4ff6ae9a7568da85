"""docs/symbolize.md stays true: its Python examples run as they are."""

from __future__ import annotations

import pytest

from tests.docs_examples import examples, params, run

DOC = "docs/symbolize.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 3


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example, no_fd_leak):
    run(example)
