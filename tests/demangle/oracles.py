"""Oracles for the demangler tests: real symbols from real binaries, and GNU c++filt's output.

Symbols come from ELF files read with pyelftools (``.symtab`` and ``.dynsym``): libstdc++, a C++
program compiled here with g++, a Rust program compiled here with rustc in both manglings, and
the Rust toolchain's own ``libstd-*.so`` (v0-mangled). Nothing is stored as a fixture file.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from tests.support import require_tool

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")


def elf_symbol_names(path: str) -> list[str]:
    """The distinct names in ``path``'s symbol tables, in file order."""
    names: dict[str, None] = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection):
                for symbol in section.iter_symbols():
                    if symbol.name:
                        names[symbol.name] = None
    return list(names)


def cxxfilt(symbols: list[str], *flags: str) -> list[str]:
    """What ``c++filt [flags]`` prints for each symbol (one process for all of them)."""
    tool = require_tool("c++filt")
    out = subprocess.run(
        [tool, *flags], input="\n".join(symbols) + "\n", capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(out) == len(symbols), "c++filt printed a different number of lines"
    return out


def libstdcxx() -> str | None:
    """Path of the system's libstdc++.so.6, if any."""
    for pattern in (
        "/usr/lib/*/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/lib/*/libstdc++.so.6",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return os.path.realpath(found[0])
    return None


def rust_std_libraries() -> list[str]:
    """The Rust toolchains' ``libstd-*.so`` files (rustup's are v0-mangled), rustup's first."""
    home = os.path.expanduser("~")
    rustup = sorted(glob.glob(f"{home}/.rustup/toolchains/*/lib/rustlib/*/lib/libstd-*.so"))
    distro = sorted(glob.glob("/usr/lib/rustlib/*/lib/libstd-*.so"))
    return rustup + distro


def build_cxx(out_dir: str, optimizations: list[str]) -> list[str]:
    """Compile ``programs/features.cpp`` with g++ once per optimization level, in parallel."""
    gxx = require_tool("g++")
    source = os.path.join(PROGRAMS, "features.cpp")
    exes = [os.path.join(out_dir, f"features_cpp{opt}") for opt in optimizations]
    procs = [
        subprocess.Popen(
            [gxx, "-std=c++20", opt, "-o", exe, source],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for opt, exe in zip(optimizations, exes, strict=True)
    ]
    for proc in procs:
        _, err = proc.communicate()
        proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == 0, err.decode(errors="replace")
    return exes


def build_rust(out_dir: str, mangling: str) -> str:
    """Compile ``programs/features.rs`` with rustc (``legacy``: the default; ``v0``)."""
    rustc = require_tool("rustc")
    exe = os.path.join(out_dir, f"features_rs_{mangling}")
    source = os.path.join(PROGRAMS, "features.rs")
    args = [rustc, "-C", "opt-level=0", "-o", exe, source]
    if mangling == "v0":
        args[1:1] = ["-C", "symbol-mangling-version=v0"]
    subprocess.run(args, check=True, capture_output=True, cwd=out_dir)
    return exe


# c++filt (binutils 2.40) writes integer const generics as "3: usize"; rustc-demangle, and we,
# write "3usize" (and nothing after bool and char constants).
_CONST_SUFFIX = re.compile(
    r"(-?\b\d+|-?0x[0-9a-f]+|true|false|'(?:[^'\\]|\\.|\\u\{[0-9a-f]+\})*'): "
    r"(i8|i16|i32|i64|i128|isize|u8|u16|u32|u64|u128|usize|bool|char)\b"
)
# c++filt escapes every non-ASCII char constant ('\u{df}'); rustc-demangle prints it ('ß').
_CHAR_ESCAPE = re.compile(r"'\\u\{([0-9a-f]+)\}'")


def rustc_demangle_form(cxxfilt_line: str) -> str:
    """c++filt's v0 output rewritten where it differs on purpose from rustc-demangle's."""

    def suffix(m: re.Match[str]) -> str:
        return m.group(1) + ("" if m.group(2) in ("bool", "char") else m.group(2))

    def char(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return f"'{ch}'" if ch.isprintable() else m.group(0)

    return _CHAR_ESCAPE.sub(char, _CONST_SUFFIX.sub(suffix, cxxfilt_line))


def libiberty_wide_const_bug(symbol: str) -> bool:
    """c++filt garbles integer constants wider than 64 bits (``Kn<33+ hex digits>_``)."""
    return re.search(r"K[a-z]n?[0-9a-f]{17,}_", symbol) is not None


def mismatches(symbols: list[str], ours: list[str], theirs: list[str]) -> list[str]:
    """Readable lines for each symbol where the two outputs differ."""
    return [
        f"{s}\n    ours:     {a}\n    c++filt:  {b}"
        for s, a, b in zip(symbols, ours, theirs, strict=True)
        if a != b
    ]
