"""docs/offcpu.md stays true: the flags it names exist, in the CLI and the agent, and the sample
types and states it lists are the ones the code writes."""

from __future__ import annotations

import re
from pathlib import Path

from profiler.bpf import offcpu_program as op
from profiler.cli.agent_command import build_parser as agent_parser
from profiler.cli.profile_command import build_parser
from profiler.output.off_cpu import SAMPLE_TYPES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "offcpu.md").read_text()


def _flags(parser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def test_every_flag_in_the_doc_exists():
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", DOC))
    assert {"--off-cpu", "--wall", "--off-cpu-min", "--off-cpu-sample"} <= named
    cli, agent = _flags(build_parser()), _flags(agent_parser())
    for flag in named:
        assert flag in cli, flag
    for flag in ("--off-cpu", "--wall", "--off-cpu-min", "--off-cpu-sample"):
        assert flag in agent, flag


def test_sample_types_and_states_are_the_code_s():
    for sample_type in SAMPLE_TYPES[1:]:
        assert f"`{sample_type}/nanoseconds`" in DOC
    states = {op.decode_state(v, raw=False) for v in (0, 1, 2, 0x80, 4, 0x40)}
    for state in states:
        assert f"`{state}`" in DOC, state
