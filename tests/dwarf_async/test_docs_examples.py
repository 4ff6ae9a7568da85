"""The ```python examples of docs/async_stacks.md run as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import require_tool

DOC = Path(__file__).resolve().parents[2] / "docs" / "async_stacks.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, capsys):
    require_tool("gcc")
    exec(compile(BLOCKS[index], f"{DOC.name} example {index + 1}", "exec"), {})
    printed = capsys.readouterr().out
    for expected in re.findall(r"^\s*# (.+)$", BLOCKS[index], flags=re.M):
        if "->" in expected or ".c:" in expected:  # the comments that show printed output
            assert " ".join(expected.split()) in " ".join(printed.split())
