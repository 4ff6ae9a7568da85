"""docs/pybpf.md stays true: its examples run (they load programs: root) and print."""

from __future__ import annotations

import pytest

from tests.docs_examples import examples, params, run

DOC = "docs/pybpf.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 5


@pytest.mark.bpf
@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example, no_fd_leak):
    assert run(example)  # every example prints what it shows
