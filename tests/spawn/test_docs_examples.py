"""The ```python examples of docs/spawned_tasks.md run as written (the live one needs root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import require_root

DOC = Path(__file__).resolve().parents[2] / "docs" / "spawned_tasks.md"
BLOCKS = re.findall(
    r"(<!-- readme-test: (\w+) -->\n)?```python\n(.*?)```", DOC.read_text(), flags=re.S
)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, capsys, no_fd_leak):
    _marker, mark, code = BLOCKS[index]
    if mark == "root":
        require_root()
    exec(compile(code, f"{DOC.name} example {index + 1}", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip()
    # Comments showing output must match it; the live example must show a linked background.
    for expected in re.findall(r"^# (.+ -> .+)$", code, flags=re.M):
        assert expected in printed
    if mark == "root":
        assert "[spawn] -> tokio_app::background" in printed
