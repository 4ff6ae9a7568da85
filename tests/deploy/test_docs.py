"""docs/deploy.md stays true: its Python examples run and print what they show."""

from __future__ import annotations

import pytest

from tests.docs_examples import params, run


@pytest.mark.parametrize("example", params("docs/deploy.md"))
def test_example_runs(example):
    assert run(example).strip()
