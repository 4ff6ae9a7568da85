"""The README's Python examples run as written (blocks marked ``readme-test: root`` need root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support import require_root

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(<!-- readme-test: (\w+) -->\n)?```python\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str, str, int]]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    out = []
    for m in BLOCK.finditer(text):
        line = text[: m.start()].count("\n") + 1
        out.append((m.group(2) or "", m.group(3), line))
    return out


@pytest.mark.parametrize("mark,code,line", readme_blocks(), ids=lambda v: str(v)[:20])
def test_readme_example_runs(mark, code, line, tmp_path):
    if mark == "root":
        require_root()
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, f"README example at line {line} failed:\n{res.stderr}"
    assert res.stdout.strip(), "the example printed nothing"


def test_readme_has_examples_for_each_library():
    codes = "\n".join(code for _, code, _ in readme_blocks())
    for module in ("from profiler import Session", "from pybpf.asm", "from pprof_encoder"):
        assert module in codes
