"""Itanium C++ symbols of real binaries, demangled by us and by GNU c++filt in the same run."""

from __future__ import annotations

import glob
import os

import pytest

from profiler.demangle import demangle
from tests.support import skip_or_fail

from .oracles import build_cxx, cxxfilt, elf_symbol_names, libstdcxx, mismatches


def _itanium(names: list[str]) -> list[str]:
    return [n for n in names if n.startswith(("_Z", "_GLOBAL_"))]


@pytest.fixture(scope="module")
def compiled_symbols(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Symbols of programs/features.cpp built at -O0 (every instantiation) and -O2 (clones)."""
    out = str(tmp_path_factory.mktemp("cxx"))
    names: dict[str, None] = {}
    for exe in build_cxx(out, ["-O0", "-O2"]):
        for name in _itanium(elf_symbol_names(exe)):
            names[name] = None
    return list(names)


def test_compiled_program_matches_cxxfilt(compiled_symbols: list[str]) -> None:
    gnu = cxxfilt(compiled_symbols)
    ours = [demangle(s) for s in compiled_symbols]
    bad = mismatches(compiled_symbols, ours, gnu)
    assert not bad, f"{len(bad)} of {len(compiled_symbols)} differ:\n" + "\n".join(bad[:20])


def test_compiled_program_covers_the_grammar(compiled_symbols: list[str]) -> None:
    # The program is there to exercise these constructs; make sure the compiler emitted them.
    text = "\n".join(demangle(s) for s in compiled_symbols)
    for construct in (
        "{lambda(",
        "{lambda(auto:1",
        "[clone .",
        "[abi:cxx11]",
        "non-virtual thunk to ",
        "virtual thunk to ",
        "construction vtable for ",
        "VTT for ",
        "typeinfo for ",
        "typeinfo name for ",
        "guard variable for ",
        "TLS wrapper function for ",
        "(anonymous namespace)",
        "decltype (",
        "operator()",
        "std::function<",
        "std::map<",
        "std::unordered_map<",
    ):
        assert construct in text, construct


def test_libstdcxx_symbols_match_cxxfilt() -> None:
    path = libstdcxx()
    if path is None:
        skip_or_fail("no libstdc++.so.6 on this machine")
    symbols = _itanium(elf_symbol_names(path))
    assert len(symbols) > 1000
    gnu = cxxfilt(symbols)
    ours = [demangle(s) for s in symbols]
    bad = mismatches(symbols, ours, gnu)
    assert not bad, f"{len(bad)} of {len(symbols)} differ:\n" + "\n".join(bad[:20])


@pytest.mark.slow
def test_every_shared_library_agrees_with_cxxfilt() -> None:
    """All C++ symbols exported by the machine's shared libraries: the agreement rate."""
    symbols: dict[str, None] = {}
    for path in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*")):
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            names = elf_symbol_names(path)
        except Exception:  # not an ELF file (linker scripts are named .so too)
            continue
        for name in _itanium(names):
            symbols[name] = None
    corpus = list(symbols)
    if len(corpus) < 1000:
        skip_or_fail("too few C++ libraries installed for a meaningful rate")
    gnu = cxxfilt(corpus)
    ours = [demangle(s) for s in corpus]
    bad = mismatches(corpus, ours, gnu)
    rate = 1 - len(bad) / len(corpus)
    print(f"\nItanium agreement with c++filt: {rate:.5%} of {len(corpus)} symbols")
    # The known differences are GNU quirks we do not reproduce (a handful per 100 000).
    assert rate >= 0.999, "\n".join(bad[:20])
