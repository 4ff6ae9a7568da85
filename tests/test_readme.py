"""The README's Python examples run as written (blocks marked ``readme-test: root`` need root)."""

from __future__ import annotations

import pytest

from tests.docs_examples import examples, params, run


@pytest.mark.parametrize("example", params("README.md"))
def test_readme_example_runs(example, tmp_path, monkeypatch, no_fd_leak):
    monkeypatch.chdir(tmp_path)  # whatever an example writes stays in the test's directory
    assert run(example).strip(), "the example printed nothing"


def test_readme_has_examples_for_each_library():
    codes = "\n".join(e.code for e in examples("README.md"))
    for module in ("from profiler import Session", "from pybpf.asm", "from pprof_encoder"):
        assert module in codes
