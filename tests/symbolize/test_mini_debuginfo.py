"""MiniDebugInfo (.gnu_debugdata): stripped binaries of Fedora-like distributions."""

from __future__ import annotations

import subprocess

from profiler.elf.file import ElfFile
from profiler.symbolize import Symbolizer
from profiler.symbolize.mini_debuginfo import mini_debuginfo_symbols

from ..support import require_tool
from .native_programs import copy_binary, run_tool, running


def _defined(binary, *flags) -> set[str]:
    out = run_tool("nm", *flags, "--format=posix", "--defined-only", str(binary))
    return {line.split()[0] for line in out.splitlines() if line.split()[1:2] != []}


def _with_mini_debuginfo(full, out_dir):
    """The recipe of GDB's manual (MiniDebugInfo): keep the function symbols .dynsym lacks,
    xz them into .gnu_debugdata of the stripped binary."""
    xz = require_tool("xz")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = copy_binary(full, out_dir)
    functions = {
        line.split()[0]
        for line in run_tool("nm", "--format=posix", "--defined-only", str(full)).splitlines()
        if line.split()[1] in ("T", "t")
    }
    keep = out_dir / "keep_symbols"
    keep.write_text("\n".join(sorted(functions - _defined(full, "-D"))) + "\n")
    debug, mini = out_dir / "debug", out_dir / "mini_debuginfo"
    run_tool("objcopy", "--only-keep-debug", str(binary), str(debug))
    run_tool("objcopy", "-S", "--remove-section", ".comment", f"--keep-symbols={keep}", str(debug),
             str(mini))  # fmt: skip
    run_tool("strip", "--strip-all", "-R", ".comment", str(binary))
    subprocess.run([xz, "-f", str(mini)], check=True)
    run_tool("objcopy", f"--add-section=.gnu_debugdata={mini}.xz", str(binary))
    return binary


def test_stripped_binary_with_mini_debuginfo(debug_program, tmp_path, no_fd_leak):
    binary = _with_mini_debuginfo(debug_program["full"], tmp_path / "mini")
    with ElfFile.open(str(binary)) as elf:
        assert not elf.has_symtab()
        table = mini_debuginfo_symbols(elf)
    assert table is not None
    assert {"alpha", "gamma_local"} <= {name for name, _, _ in table.symbols()}
    with running(binary) as prog, Symbolizer(debug_roots=[str(tmp_path / "none")]) as sym:
        for name in ("alpha", "beta", "gamma_local"):
            assert sym.user_frames(prog.pid, prog.addresses[name] + 1)[-1].function == name


def test_no_mini_debuginfo(debug_program):
    with ElfFile.open(str(debug_program["stripped"])) as elf:
        assert mini_debuginfo_symbols(elf) is None
