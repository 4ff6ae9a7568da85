"""docs/asm.md stays true: its examples run and print exactly what the doc shows after them."""

from __future__ import annotations

import re

import pytest

from tests.docs_examples import params, run


@pytest.mark.parametrize("example", params("docs/asm.md"))
def test_example_runs(example):
    printed = run(example)
    shown = re.match(r"```\n\nprints\n\n```\n(.*?)```", example.following_text(), re.S)
    if shown:
        assert printed == shown.group(1)
