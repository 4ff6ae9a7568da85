"""Stripped Go binaries (``-ldflags=-s -w``) are symbolized from their ``.gopclntab``."""

from __future__ import annotations

import os
import subprocess

import pytest

from profiler.elf.file import ElfFile
from profiler.frames.model import USER
from profiler.symbolize import Symbolizer
from profiler.symbolize.go_pclntab import go_symbol_table

from ..support import require_tool
from .native_programs import running

GO_PROGRAM = """\
package main

import (
\t"fmt"
\t"os"
\t"reflect"
)

var sink int

//go:noinline
func alpha(x int) int {
\tfor i := 0; i < x; i++ {
\t\tsink += i * 3
\t}
\treturn sink
}

type counter struct{ n int }

//go:noinline
func (c *counter) bump(x int) int {
\tfor i := 0; i < x; i++ {
\t\tc.n ^= i + 7
\t}
\treturn c.n
}

func main() {
\tc := &counter{}
\tfmt.Printf("main.alpha %x\\n", reflect.ValueOf(alpha).Pointer())
\tfmt.Printf("main.(*counter).bump %x\\n", reflect.ValueOf((*counter).bump).Pointer())
\tfmt.Println("ready")
\tbuf := make([]byte, 1)
\tos.Stdin.Read(buf)
\tfmt.Println(alpha(3) + c.bump(3))
}
"""


def _go_build(src_dir, out, *flags):
    go = require_tool("go")
    env = {**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"}
    if "HOME" not in env and "GOCACHE" not in env:  # go needs somewhere for its build cache
        env["GOCACHE"] = str(src_dir / "gocache")
    done = subprocess.run(
        [go, "build", *flags, "-o", str(out), str(src_dir / "prog.go")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def go_binaries(tmp_path_factory):
    src = tmp_path_factory.mktemp("go")
    (src / "prog.go").write_text(GO_PROGRAM)
    return {
        "full": _go_build(src, src / "full"),
        "exe": _go_build(src, src / "exe", "-ldflags=-s -w"),
        "pie": _go_build(src, src / "pie", "-buildmode=pie", "-ldflags=-s -w"),
    }


def _go_nm(binary) -> dict[str, int]:
    go = require_tool("go")
    out = subprocess.run([go, "tool", "nm", str(binary)], capture_output=True, text=True)
    symbols = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in "Tt":
            symbols[parts[2]] = int(parts[0], 16)
    return symbols


@pytest.mark.slow  # the first -buildmode=pie build compiles the standard library (~10 s)
@pytest.mark.parametrize("kind", ["exe", "pie"])
def test_stripped_go_binary(kind, go_binaries, no_fd_leak):
    binary = go_binaries[kind]
    with ElfFile.open(str(binary)) as elf:
        assert not elf.has_symtab()  # really stripped: only the pc-line table names functions
    with running(binary) as prog, Symbolizer() as sym:
        for name, addr in prog.addresses.items():
            (frame,) = sym.user_frames(prog.pid, addr + 3)
            assert (frame.function, frame.kind, frame.module_path) == (name, USER, str(binary))


def test_pclntab_agrees_with_go_tool_nm(go_binaries):
    # The unstripped build has .symtab for the oracle (go tool nm) and the same .gopclntab.
    oracle = _go_nm(go_binaries["full"])
    with ElfFile.open(str(go_binaries["full"])) as elf:
        table = go_symbol_table(elf)
    assert table is not None and len(table) > 100
    for name in ("main.alpha", "main.(*counter).bump", "main.main", "runtime.main"):
        assert table.lookup(oracle[name]) == (name, oracle[name])
        assert table.lookup(oracle[name] + 1) == (name, oracle[name])


def test_not_a_go_binary(debug_program):
    with ElfFile.open(str(debug_program["full"])) as elf:
        assert go_symbol_table(elf) is None
