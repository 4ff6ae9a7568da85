"""The README section's examples (docs/unwind.md) run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_tool

DOC = Path(__file__).resolve().parents[2] / "docs" / "unwind.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index):
    require_tool("gcc")
    out = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=DOC.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
