"""The README section's examples (docs/demangle.md) run as they are written."""

from __future__ import annotations

import os
import re

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "demangle.md")


def test_python_examples_run() -> None:
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/demangle.md", "exec"), {})
