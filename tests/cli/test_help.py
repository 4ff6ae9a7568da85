"""The help of every command, the program's name in it, the end-of-run hints, and the usage
errors that come before anything is loaded (no root needed)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest

from profiler.cli import agent_command, profile_command, record_command, top_command
from profiler.cli.program import program_name
from profiler.cli.report import how_to_look
from profiler.output.formats import FORMATS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARSERS = {
    "profile": profile_command.build_parser,
    "record": record_command.build_parser,
    "top": top_command.build_parser,
    "agent": agent_command.build_parser,
}


def run(*args: str, argv0: str | None = None) -> subprocess.CompletedProcess:
    """``python -m profiler ARGS`` (or, with ``argv0``, the CLI as a script of that name)."""
    if argv0 is None:
        cmd = [sys.executable, "-m", "profiler", *args]
    else:
        code = (
            f"import sys; sys.argv[0] = {argv0!r}; from profiler.cli import main; sys.exit(main())"
        )
        cmd = [sys.executable, "-c", code, *args]
    env = {**os.environ, "PYTHONPATH": ROOT, "COLUMNS": "100"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def groups(help_text: str) -> list[str]:
    """The section titles of a help text, in order."""
    return re.findall(r"^([a-zA-Z][^\n]*):$", help_text, re.M)


def test_one_shot_help_groups_common_flags_first_and_has_examples():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("usage: python -m profiler [flags]\n")
    for command in ("record [flags] -- CMD [ARGS...]", "top [flags]", "agent [flags]"):
        assert f"python -m profiler {command}" in text
    assert groups(text) == [
        "options",
        "what to profile",
        "how long, and where to",
        "off-CPU time: where threads wait",
        "stacks",
        "unwinding without frame pointers",
        "Python",
        "async stacks (Rust Tokio)",
        "commands",
        "examples",
    ]
    # perf's habits: -p, -F, -G, -o, -d, -q
    for short, long in (("-p", "--pid"), ("-F", "--freq"), ("-G", "--cgroup"), ("-o", "--output")):
        assert re.search(rf"{long} \S+, {short} ", text), long
    assert "go tool pprof -http=: profile.pb.gz" in text


@pytest.mark.parametrize("command", ["record", "top", "agent"])
def test_each_command_has_help_with_examples(command):
    out = run(command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: python -m profiler {command} [flags]")
    assert "examples:" in out.stdout


def test_the_installed_command_names_itself():
    assert program_name("/usr/local/bin/pureprof") == "pureprof"
    assert program_name("/x/profiler/__main__.py") == "python -m profiler"
    out = run("--help", argv0="/usr/local/bin/pureprof")
    assert out.stdout.startswith("usage: pureprof [flags]\n       pureprof record"), out.stderr
    assert "python -m profiler" not in out.stdout
    agent = run("agent", "--help", argv0="/usr/local/bin/pureprof")
    assert agent.stdout.startswith("usage: pureprof agent [flags]")


def test_pyproject_script_is_the_cli_entry_point():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts == {"pureprof": "profiler.cli:main"}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_flag_is_explained_in_plain_text(name):
    parser = PARSERS[name]("pureprof")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
        assert len(action.help) > 15, action.option_strings
    text = parser.format_help()
    # No reST or Markdown markup: ``literal``, :role:`x`, `x`.
    assert "``" not in text and not re.search(r":\w+:`", text) and "`" not in text


def test_agent_help_names_every_environment_variable_it_reads():
    text = PARSERS["agent"]("pureprof").format_help()
    for env in (
        "SAMPLE_FREQ", "INTERVAL", "OTLP_ENDPOINT", "OTLP_PROTOCOL", "OTLP_PATH", "OTLP_HEADERS",
        "OTLP_COMPRESSION", "OTLP_CA_FILE", "SERVICE_NAME", "PYROSCOPE_URL", "PYROSCOPE_TENANT",
        "OUTPUT_DIR", "SPILL_DIR", "STATUS_FILE", "NODE_NAME", "POD_NAME", "POD_NAMESPACE",
    ):  # fmt: skip
        assert env in text, env


def test_unknown_extension_is_an_error_naming_the_formats(tmp_path):
    out = run("-o", str(tmp_path / "out.json"), "-d", "1")
    assert out.returncode == 2
    assert "speedscope files end in .speedscope.json" in out.stderr
    assert "|".join(FORMATS) in out.stderr
    assert not list(tmp_path.iterdir())  # nothing written, nothing loaded


def test_a_command_without_record_says_how():
    out = run("-o", "x.pb.gz", "--", "make")
    assert out.returncode == 2 and "python -m profiler record [flags] -- CMD" in out.stderr


def test_record_usage_errors(tmp_path):
    out = run("record", "-o", str(tmp_path / "r.pb.gz"))
    assert out.returncode == 2 and "no command to run" in out.stderr
    missing = run("record", "-o", str(tmp_path / "r.pb.gz"), "--", "no-such-command-xyz")
    assert missing.returncode == 127, missing.stderr
    assert "no-such-command-xyz: command not found" in missing.stderr
    not_exec = tmp_path / "data.txt"
    not_exec.write_text("not a program")
    denied = run("record", "-o", str(tmp_path / "r.pb.gz"), "--", str(not_exec))
    assert denied.returncode == 126, denied.stderr
    assert not (tmp_path / "r.pb.gz").exists()


def test_record_takes_the_command_with_or_without_double_dash():
    assert record_command.split_command(["-F", "99", "--", "ls", "-l"]) == (
        ["-F", "99"],
        ["ls", "-l"],
    )
    assert record_command.split_command(["-F", "99", "-q", "ls", "-l"]) == (
        ["-F", "99", "-q"],
        ["ls", "-l"],
    )


def test_top_rejects_bad_values_before_loading():
    for args, message in (
        (["--refresh", "0.01"], "--refresh must be 0.2-60"),
        (["--window", "-1"], "--window must be 0 or more"),
        (["-d", "0"], "--duration must be a positive"),
    ):
        out = run("top", *args)
        assert out.returncode == 2 and message in out.stderr, out.stderr


@pytest.mark.parametrize(
    "fmt,expected",
    [
        ("pprof", "go tool pprof -http=: 'my profile.pb.gz'"),
        ("html", "Open it in a browser: file:///"),
        ("svg", "Open it in a browser: file:///"),
        ("speedscope", "npx speedscope 'my profile.pb.gz'"),
        ("folded", "flamegraph.pl 'my profile.pb.gz'"),
        ("otlp", "python -m pprof_encoder convert 'my profile.pb.gz' profile.pb.gz"),
    ],
)
def test_the_closing_line_tells_how_to_look(fmt, expected):
    assert expected in how_to_look("my profile.pb.gz", fmt)
    assert set(FORMATS) == {"pprof", "html", "svg", "speedscope", "folded", "otlp"}
