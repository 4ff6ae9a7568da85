"""docs/deploy.md: its Python examples run as written."""

from __future__ import annotations

import os
import re

import pytest

from .manifests import ROOT

DOC = os.path.join(ROOT, "docs", "deploy.md")


def python_blocks() -> list[str]:
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_example_runs(index, capsys):
    exec(compile(python_blocks()[index], f"{DOC} example {index}", "exec"), {})
    assert capsys.readouterr().out.strip()  # each example prints what it shows
