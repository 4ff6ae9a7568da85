"""Every ```python example in docs/pybpf.md runs as-is (they need root: BPF maps and programs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pybpf.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.bpf
@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(index, capsys, no_fd_leak):
    code = compile(EXAMPLES[index], f"{DOC.name} example {index + 1}", "exec")
    exec(code, {"__name__": f"doc_example_{index}"})
    assert capsys.readouterr().out  # every example prints what it shows
