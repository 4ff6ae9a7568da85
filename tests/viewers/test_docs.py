"""docs/viewers.md: its Python examples run as written, its error message is the real one."""

from __future__ import annotations

import re

import pytest

from profiler.output.formats import format_for_path
from tests.docs_examples import ROOT, examples, params, run

DOC = "docs/viewers.md"


def test_the_doc_has_examples():
    assert len(examples(DOC)) >= 1


@pytest.mark.parametrize("example", params(DOC))
def test_example_runs(example):
    run(example)


def test_the_error_shown_is_the_one_raised():
    text = (ROOT / DOC).read_text()
    shown = re.search(r"# python3 -m profiler -o out.json\nprofiler: (.*?)\n```", text, re.DOTALL)
    with pytest.raises(ValueError) as err:
        format_for_path("out.json")
    assert " ".join(shown.group(1).split()) == str(err.value)
