"""The one runner of the Python examples in README.md and docs/*.md: they run as written.

A block is a fenced ``python`` block; ``<!-- readme-test: root -->`` right before it marks one
that needs root (skipped outside CI, failing under CI=true, through :mod:`tests.support`).
``run`` executes a block in this process (its own namespace) and returns what it printed.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import require_root

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"(<!-- readme-test: (\w+) -->\n)?```python\n(.*?)```", re.S)


@dataclass(frozen=True)
class Example:
    """One Python block of a document."""

    doc: Path
    line: int  # of the opening fence
    code: str
    mark: str  # "" or "root"

    @property
    def name(self) -> str:
        """``file:line`` for ids and tracebacks."""
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    def following_text(self) -> str:
        """The document's text after this block (for docs that show an example's output)."""
        text = self.doc.read_text()
        return text.split(self.code, 1)[1]


def examples(doc: str) -> list[Example]:
    """The Python blocks of ``doc`` (a path relative to the repository, e.g. ``docs/asm.md``)."""
    path = ROOT / doc
    text = path.read_text()
    return [
        Example(path, text[: m.start()].count("\n") + 1, m.group(3), m.group(2) or "")
        for m in _BLOCK.finditer(text)
    ]


def params(doc: str) -> list:
    """``examples(doc)`` as pytest parameters named by file and line."""
    return [pytest.param(e, id=e.name) for e in examples(doc)]


def run(example: Example) -> str:
    """Run ``example`` here (root-marked ones need root) and return what it printed."""
    if example.mark == "root":
        require_root()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example.code, example.name, "exec"), {"__name__": "__doc_example__"})
    return out.getvalue()
