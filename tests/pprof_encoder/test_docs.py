"""docs/pprof_encoder.md and the package docstring stay true: their examples run."""

from __future__ import annotations

import doctest

import pytest

import pprof_encoder
from tests.docs_examples import examples, params, run

DOC = "docs/pprof_encoder.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 3


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example):
    run(example)


def test_package_docstring_example():
    failures, tests = doctest.testmod(pprof_encoder)
    assert tests > 0 and failures == 0
