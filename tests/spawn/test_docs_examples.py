"""docs/spawned_tasks.md stays true: its examples run and show the output their comments say."""

from __future__ import annotations

import re

import pytest

from tests.docs_examples import examples, params, run

DOC = "docs/spawned_tasks.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 2


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example, no_fd_leak):
    printed = run(example)
    assert printed.strip()
    # Comments showing output must match it; the live example must show a linked background.
    for expected in re.findall(r"^# (.+ -> .+)$", example.code, flags=re.M):
        assert expected in printed
    if example.mark == "root":
        assert "[spawn] -> tokio_app::background" in printed
