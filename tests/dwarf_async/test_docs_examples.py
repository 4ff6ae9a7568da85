"""docs/async_stacks.md stays true: its examples run and print the stacks their comments show."""

from __future__ import annotations

import re

import pytest

from tests.docs_examples import examples, params, run
from tests.support import require_tool

DOC = "docs/async_stacks.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 2


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example):
    require_tool("gcc")
    printed = run(example)
    for expected in re.findall(r"^\s*# (.+)$", example.code, flags=re.M):
        if "->" in expected or ".c:" in expected:  # the comments that show printed output
            assert " ".join(expected.split()) in " ".join(printed.split())
