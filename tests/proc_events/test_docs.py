"""docs/proc_events.md stays true: its examples run (root-marked ones as root)."""

from __future__ import annotations

import pytest

from tests.docs_examples import examples, params, run

DOC = "docs/proc_events.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 4


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example, no_fd_leak):
    run(example)
