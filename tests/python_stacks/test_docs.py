"""docs/python_stacks.md stays true: its example runs and prints what it shows, its flag exists
in every command, and the limits it states are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.bpf.python_layouts import MAX_FRAMES, MAX_STEPS
from profiler.cli.agent_command import build_parser as agent_parser
from profiler.cli.profile_command import build_parser
from profiler.python.tracker import THREADS_S, UPKEEP_S
from tests.docs_examples import params, run

DOC = Path(__file__).resolve().parents[2] / "docs" / "python_stacks.md"


@pytest.mark.bpf
@pytest.mark.parametrize("example", params("docs/python_stacks.md"))
def test_example_runs(example):
    out = run(example).splitlines()
    path, share = re.fullmatch(r"(.*): (\d+) % of the samples", out[0]).groups()
    assert path == "<module> -> handle -> parse" and int(share) >= 80, out
    assert out[1] == "<string> 2 3 [python]"


def test_flags_and_limits_are_the_code_s():
    text = DOC.read_text()
    for parser in (build_parser(), agent_parser()):
        flags = {s for action in parser._actions for s in action.option_strings}
        assert "--python" in flags
    assert f"At most {MAX_FRAMES} frames are stored and {MAX_STEPS} visited" in text
    assert f"every {THREADS_S} s, so a thread" in text.replace("\n", " ")
    assert f"every {UPKEEP_S} s by the `pp-python` thread" in text.replace("\n", " ")
