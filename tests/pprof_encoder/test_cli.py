"""Folded stacks, the top table and the CLI (`python -m pprof_encoder convert|top`)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
)

from pprof_encoder import Frame, ProfileBuilder, parse
from pprof_encoder.cli import main
from pprof_encoder.folded import FoldedFormatError, format_folded, parse_folded
from pprof_encoder.formats import format_from_name, load
from pprof_encoder.otlp import profile_to_otlp
from pprof_encoder.top import format_top, top_rows
from tests.support import require_tool

from .oracles import (
    build_realistic,
    go_pprof,
    go_pprof_raw_totals,
    go_pprof_top_total,
    realistic_samples,
)

ROOT = Path(__file__).resolve().parents[2]


def folded_lines(n: int, seed: int = 1) -> list[str]:
    """``n`` folded lines (root first) as perf/bpftrace/BCC write them; frames may have spaces."""
    rnd = random.Random(seed)
    funcs = [f"func_{i}" for i in range(500)] + ["operator new(unsigned long)", "[unknown]"]
    lines = []
    for _ in range(n):
        frames = ["app", *rnd.sample(funcs, rnd.randint(1, 15))]
        lines.append(f"{';'.join(frames)} {rnd.randint(1, 50)}\n")
    return lines


def folded_total(lines: list[str]) -> int:
    return sum(int(line.rsplit(" ", 1)[1]) for line in lines)


def otlp_total(data: bytes) -> int:
    req = ExportProfilesServiceRequest()
    req.ParseFromString(data)
    return sum(
        sum(s.values)
        for rp in req.resource_profiles
        for sp in rp.scope_profiles
        for pr in sp.profiles
        for s in pr.samples
    )


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pprof_encoder", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )


def test_folded_round_trip_merges_and_sorts():
    p = parse_folded(["a;b;c 3\n", "a;b 2\n", "\n", "# comment\n", "a;b;c 4\n"])
    assert format_folded(p) == "a;b 2\na;b;c 7\n"
    [s, _] = p.samples
    assert [loc.lines[0].function.name for loc in s.locations] == ["c", "b", "a"]


def test_folded_expands_inlined_lines_root_first():
    b = ProfileBuilder([("samples", "count")])
    b.add_sample([Frame("inner", inlined=True), Frame("outer"), "main"], 5)
    assert format_folded(b.build()) == "main;outer;inner 5\n"


def test_folded_tolerates_tabs_trailing_spaces_and_crlf():
    p = parse_folded(["a;b c\t3\r\n", "a;b c 4  \n", "x 1"])
    assert format_folded(p) == "a;b c 7\nx 1\n"


def test_malformed_folded_line_names_the_line():
    with pytest.raises(FoldedFormatError, match="line 2"):
        parse_folded(["a;b 1\n", "a;b one\n"])
    with pytest.raises(FoldedFormatError, match="line 1: a count with no stack"):
        parse_folded(["42\n"])
    with pytest.raises(FoldedFormatError, match="line 1"):
        parse_folded(["a;b 1.5\n"])


def test_format_guessing():
    assert format_from_name("x.pb.gz") == "pprof"
    assert format_from_name("stacks.folded") == "folded"
    assert format_from_name("out.otlp.pb") == "otlp"
    assert format_from_name("-") is None
    data = "".join(folded_lines(20)).encode()
    assert load(data).total() == folded_total(folded_lines(20))
    # Non-ASCII names across the 4 KiB guessing window, and a comment line.
    lines = ["# from perf script\n"] + [f"main;函数_{i} {i}\n" for i in range(1, 600)]
    assert load("".join(lines).encode()).total() == folded_total(lines[1:])


def test_top_table_flat_and_cumulative():
    p = parse_folded(["main;a;b 3\n", "main;a 2\n", "main;b;b 5\n"])
    rows, total = top_rows(p)
    assert total == 10
    by_name = {r.name: r for r in rows}
    assert (by_name["b"].flat, by_name["b"].cum) == (8, 8)  # recursion counted once in cum
    assert (by_name["a"].flat, by_name["a"].cum) == (2, 5)
    assert (by_name["main"].flat, by_name["main"].cum) == (0, 10)
    text = format_top(p, n=2)
    assert "of 10 total" in text and "Showing top 2 nodes out of 3" in text


def test_convert_folded_to_pprof_go_agrees(tmp_path):
    go = require_tool("go")
    lines = folded_lines(2_000)
    src = tmp_path / "stacks.folded"
    src.write_text("".join(lines))
    out = tmp_path / "profile.pb.gz"
    assert main(["convert", str(src), str(out)]) == 0
    assert go_pprof_top_total(go, str(out)) == folded_total(lines)
    # Our `top` and go's agree on the flat value of the heaviest function.
    ours = top_rows(parse(out.read_bytes()))[0][0]
    go_top = go_pprof(go, "-top", "-nodecount=500", str(out))
    assert f" {ours.flat} " in go_top and ours.name in go_top


def test_otlp_with_two_sample_types_converts_to_a_pprof_go_reads(tmp_path):
    go = require_tool("go")
    samples = realistic_samples(n_samples=500, n_locations=200, n_functions=90, seed=8)
    src = tmp_path / "in.otlp"
    src.write_bytes(profile_to_otlp(build_realistic(samples).build(), {"service.name": "x"}))
    out = tmp_path / "out.pb.gz"
    assert main(["convert", str(src), str(out)]) == 0
    expected = [sum(v[0] for _, v, _ in samples), sum(v[1] for _, v, _ in samples)]
    assert go_pprof_raw_totals(go, str(out)) == expected


def test_convert_between_all_formats(tmp_path, no_fd_leak):
    lines = folded_lines(300)
    src = tmp_path / "stacks.folded"
    src.write_text("".join(lines))
    otlp_file = tmp_path / "profile.otlp"
    assert main(["convert", str(src), str(otlp_file)]) == 0
    assert otlp_total(otlp_file.read_bytes()) == folded_total(lines)
    pprof_file = tmp_path / "back.pb.gz"
    assert main(["convert", str(otlp_file), str(pprof_file)]) == 0
    folded_file = tmp_path / "back.txt"
    assert main(["convert", str(pprof_file), str(folded_file)]) == 0
    assert folded_file.read_text() == format_folded(parse_folded(lines))
    gz = tmp_path / "x.otlp.gz"
    assert main(["convert", str(src), str(gz), "--to", "otlp"]) == 0
    assert load(gz.read_bytes()).total() == folded_total(lines)


def test_cli_stdin_stdout_and_guessing_from_content(tmp_path):
    lines = folded_lines(100)
    out = run_cli("convert", "-", "-", "--to", "otlp", stdin="".join(lines).encode())
    assert out.returncode == 0, out.stderr
    assert otlp_total(out.stdout) == folded_total(lines)
    noname = tmp_path / "profile-without-extension"
    noname.write_bytes(out.stdout)
    back = run_cli("convert", str(noname), "-")
    assert back.returncode == 0, back.stderr
    assert back.stdout.decode() == format_folded(parse_folded(lines))
    top = run_cli("top", str(noname), "-n", "5")
    assert top.returncode == 0 and f"of {folded_total(lines)} total" in top.stdout.decode()


def test_cli_errors_are_one_clear_line(tmp_path, capsys, no_fd_leak):
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(b"\x0a\x05ab")
    assert main(["convert", str(bad), str(tmp_path / "out.folded")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pprof_encoder: error:") and "exceeds" in err
    good = tmp_path / "s.folded"
    good.write_text("a;b 1\n")
    assert main(["convert", str(good), str(tmp_path / "out.unknown")]) == 1
    assert "--to" in capsys.readouterr().err
    assert main(["top", str(tmp_path / "missing.pb.gz")]) == 1
    assert "No such file" in capsys.readouterr().err


@pytest.mark.slow
def test_done_criterion_100k_folded_lines(tmp_path):
    """The issue's acceptance test: 100 000 folded lines → pprof (go) and OTLP, same totals."""
    go = require_tool("go")
    lines = folded_lines(100_000, seed=42)
    src = tmp_path / "stacks.folded"
    src.write_text("".join(lines))
    out = run_cli("convert", str(src), str(tmp_path / "profile.pb.gz"))
    assert out.returncode == 0, out.stderr
    assert go_pprof_top_total(go, str(tmp_path / "profile.pb.gz")) == folded_total(lines)
    out = run_cli("convert", str(src), str(tmp_path / "profile.otlp"), "--to", "otlp")
    assert out.returncode == 0, out.stderr
    assert otlp_total((tmp_path / "profile.otlp").read_bytes()) == folded_total(lines)
