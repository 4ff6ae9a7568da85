"""Stripped binaries symbolized from separate debug files: by build id and by .gnu_debuglink."""

from __future__ import annotations

import shutil
import zlib

import pytest

from profiler.elf.file import ElfFile
from profiler.frames.model import UNKNOWN
from profiler.symbolize import Symbolizer

from .native_programs import PROGRAM_C, compile_c, copy_binary, nm_symbols, run_tool, running


def _build_id(path) -> str:
    with ElfFile.open(str(path)) as elf:
        return elf.build_id


def _with_debuglink(stripped, debug, dest_dir):
    """A copy of the stripped binary in ``dest_dir`` with a debuglink to ``debug``'s name."""
    binary = copy_binary(stripped, dest_dir)
    run_tool("objcopy", f"--add-gnu-debuglink={debug}", str(binary))
    return binary


def _assert_names_all(binary, sym, expected=("alpha", "beta", "gamma_local")):
    with running(binary) as prog:
        for name in expected:
            frames = sym.user_frames(prog.pid, prog.addresses[name] + 1)
            assert frames[-1].function == name
            assert frames[-1].module_path == str(binary)


def test_stripped_binary_without_debug_file_is_unknown(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["stripped"], tmp_path / "bin")
    alpha_vaddr = nm_symbols(debug_program["full"])["alpha"][0]
    with running(binary) as prog, Symbolizer(debug_roots=[str(tmp_path / "none")]) as sym:
        (frame,) = sym.user_frames(prog.pid, prog.addresses["alpha"])
        assert frame.kind == UNKNOWN
        assert frame.function == f"{binary.name}+0x{alpha_vaddr:x}"


def test_debug_file_by_build_id(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["stripped"], tmp_path / "bin")
    build_id = _build_id(binary)
    assert build_id, "gcc on this machine must emit a build id (--build-id)"
    root = tmp_path / "debug-root"
    (root / ".build-id" / build_id[:2]).mkdir(parents=True)
    shutil.copy(debug_program["debug"], root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug")
    with Symbolizer(debug_roots=[str(root)]) as sym:
        _assert_names_all(binary, sym)
        assert sym.stats.debug_files == 1


@pytest.mark.parametrize("where", ["beside", "dot-debug", "under-debug-root"])
def test_debug_file_by_debuglink(where, debug_program, tmp_path, no_fd_leak):
    bin_dir = tmp_path / "bin"
    binary = _with_debuglink(debug_program["stripped"], debug_program["debug"], bin_dir)
    root = tmp_path / "debug-root"
    target = {
        "beside": bin_dir,
        "dot-debug": bin_dir / ".debug",
        "under-debug-root": root / str(bin_dir).lstrip("/"),
    }[where]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(debug_program["debug"], target / debug_program["debug"].name)
    with Symbolizer(debug_roots=[str(root)]) as sym:
        _assert_names_all(binary, sym)


def test_debug_file_of_another_build_is_rejected(debug_program, tmp_path, build_dir, no_fd_leak):
    bin_dir = tmp_path / "bin"
    binary = _with_debuglink(debug_program["stripped"], debug_program["debug"], bin_dir)
    # A debug file with the right name but from a different build (other build id).
    other = compile_c(PROGRAM_C.replace("i * 3", "i * 11"), tmp_path / "other", "-O2", "-g")
    run_tool("objcopy", "--only-keep-debug", str(other), str(bin_dir / "prog.debug"))
    assert _build_id(bin_dir / "prog.debug") != _build_id(binary)
    with running(binary) as prog, Symbolizer(debug_roots=[str(tmp_path / "none")]) as sym:
        (frame,) = sym.user_frames(prog.pid, prog.addresses["alpha"])
        assert frame.kind == UNKNOWN


def test_debuglink_crc_is_what_objcopy_wrote(debug_program, tmp_path):
    binary = _with_debuglink(debug_program["stripped"], debug_program["debug"], tmp_path)
    with ElfFile.open(str(binary)) as elf:
        name, crc = elf.debuglink
    assert name == debug_program["debug"].name
    assert crc == zlib.crc32(debug_program["debug"].read_bytes())


def test_file_and_line_from_dwarf_match_addr2line(debug_program, no_fd_leak):
    full = debug_program["full"]
    vaddr = nm_symbols(full)["beta"][0]
    oracle = run_tool("addr2line", "-e", str(full), f"0x{vaddr:x}").strip()
    oracle_file, oracle_line = oracle.rsplit(":", 1)
    with running(full) as prog, Symbolizer() as sym:
        frames = sym.user_frames(prog.pid, prog.addresses["beta"])
    assert frames[-1].function == "beta"
    assert frames[0].file.endswith(oracle_file.rsplit("/", 1)[-1])
    assert frames[0].line == int(oracle_line.split()[0])


def test_dwarf_is_opened_on_first_lookup_even_after_exit(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["full"], tmp_path / "bin")
    with running(binary) as prog, Symbolizer(debug_roots=[str(tmp_path / "none")]) as sym:
        assert sym.snapshot(prog.pid)
        assert sym.stats.dwarf == 0  # symbol tables at snapshot; DWARF waits for a sample
        prog.finish()
        frames = sym.user_frames(prog.pid, prog.addresses["gamma_local"])
        assert frames[-1].function == "gamma_local"
        assert frames[0].file.endswith("prog.c") and frames[0].line > 0
        assert sym.stats.dwarf == 1
