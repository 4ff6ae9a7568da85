"""Fixtures for the symbolizer tests: C programs compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .native_programs import PROGRAM_C, SHARED_C, compile_c, run_tool


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    """A directory for the binaries of this session."""
    return tmp_path_factory.mktemp("symbolize-bin")


@pytest.fixture(scope="session")
def shared_program(build_dir) -> Path:
    """A PIE program linked against a -fPIC shared library in the same directory (rpath)."""
    out = build_dir / "shared"
    out.mkdir()
    compile_c(SHARED_C, out / "libshared.so", "-O2", "-fPIC", "-shared")
    return compile_c(
        PROGRAM_C,
        out / "with_shared",
        "-O2",
        "-fPIE",
        "-pie",
        "-DWITH_SHARED",
        f"-L{out}",
        "-lshared",
        f"-Wl,-rpath,{out}",
    )


@pytest.fixture(scope="session")
def debug_program(build_dir) -> dict[str, Path]:
    """A -g program split into a stripped binary and a debug file (objcopy --only-keep-debug).

    Returns ``full`` (unstripped), ``stripped`` (no debuglink), ``debug`` (the debug file).
    """
    out = build_dir / "debug"
    out.mkdir()
    full = compile_c(PROGRAM_C, out / "prog", "-O2", "-g", "-fPIE", "-pie")
    debug = out / "prog.debug"
    run_tool("objcopy", "--only-keep-debug", str(full), str(debug))
    stripped = out / "prog.stripped"
    run_tool("objcopy", "--strip-all", str(full), str(stripped))
    return {"full": full, "stripped": stripped, "debug": debug}
