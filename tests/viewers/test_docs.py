"""docs/viewers.md: its Python examples run as written, its error message is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.output.formats import format_for_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "viewers.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.DOTALL)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_runs(code):
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})


def test_the_error_shown_is_the_one_raised():
    shown = re.search(r"# python3 -m profiler -o out.json\nprofiler: (.*?)\n```", TEXT, re.DOTALL)
    with pytest.raises(ValueError) as err:
        format_for_path("out.json")
    assert " ".join(shown.group(1).split()) == str(err.value)
