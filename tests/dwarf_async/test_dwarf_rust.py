"""DWARF inline expansion of a release Tokio program (Rust, debug = true) vs addr2line.

Three builds (see ``builds.RUST_VARIANTS``): DWARF 4 with legacy mangling, with and without frame
pointers, and DWARF 5 with v0 mangling. binutils 2.40's addr2line misreads rustc's DWARF 5 (wrong
files, missing inline levels), so DWARF 5 builds are checked against llvm-addr2line when present.
"""

from __future__ import annotations

import re

import pytest
from elftools.elf.elffile import ELFFile

from profiler.symbolize import dwarf
from profiler.symbolize.dwarf import DwarfInfo

from .builds import RUST_VARIANTS, build_tokio_app
from .demangling import demangle
from .oracle import addr2line_chains

pytestmark = pytest.mark.slow


def _oracle_tool(variant: str) -> str:
    # Debian's llvm package provides llvm-addr2line (required under CI for the DWARF 5 build).
    return "llvm-addr2line" if "dwarf5" in variant else "addr2line"


def _symbols(binary: str) -> list[tuple[str, int, int]]:
    """(name, start, size) of every sized function symbol."""
    with open(binary, "rb") as stream:
        symtab = ELFFile(stream).get_section_by_name(".symtab")
        return [
            (s.name, s["st_value"], s["st_size"])
            for s in symtab.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] > 0
        ]


@pytest.fixture(scope="module", params=sorted(RUST_VARIANTS))
def tokio_build(request) -> tuple[str, str]:
    return request.param, build_tokio_app(request.param)


def _crunch_addresses(info: DwarfInfo, binary: str) -> list[int]:
    """Addresses whose inline chain contains tokio_app::crunch (found through our own DWARF)."""
    found = []
    for name, start, size in _symbols(binary):
        if "handler" not in demangle(name) or "tokio_app" not in demangle(name):
            continue
        for address in range(start, start + size):
            if any(f.qualified_name == "tokio_app::crunch" for f in info.frames(address)):
                found.append(address)
    return found


def test_crunch_expands_to_the_inlined_async_chain(tokio_build, no_fd_leak):
    variant, binary = tokio_build
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    addresses = _crunch_addresses(info, binary)
    assert addresses, "no address of tokio_app::crunch inlined into the handler's body"
    oracle = addr2line_chains(binary, addresses, tool_name=_oracle_tool(variant))
    for address in addresses:
        frames = info.frames(address)
        qualified = [f.qualified_name for f in frames]
        chain = qualified[qualified.index("tokio_app::crunch") :]
        # crunch inlined into compute's async body, inlined into handler's async body.
        assert chain == [
            "tokio_app::crunch",
            "tokio_app::compute::{async_fn#0}",
            "tokio_app::handler::{async_fn#0}",
        ]
        assert [f.inlined for f in frames] == [True] * (len(frames) - 1) + [False]
        assert [(f.function, f.file, f.line) for f in frames] == oracle[address]


# binutils addr2line -C misreads rustc's DWARF 5: the DWARF 4 builds only (DWARF 5 is checked
# against llvm-addr2line above).
@pytest.mark.parametrize("variant", ["legacy", "legacy_fp"])
def test_crunch_chain_demangles_like_addr2line_c(variant):
    binary = build_tokio_app(variant)
    info = DwarfInfo.for_elf(binary)
    addresses = _crunch_addresses(info, binary)[:50]
    oracle = addr2line_chains(binary, addresses, demangle=True)
    for address in addresses:
        names = [_plain(demangle(f.function)) for f in info.frames(address)]
        assert names == [_plain(function) for function, _, _ in oracle[address]]
        assert names[-3:] == [
            "tokio_app::crunch",
            "tokio_app::compute::{{closure}}",
            "tokio_app::handler::{{closure}}",
        ]


def _plain(name: str) -> str:
    """A demangled name without v0 crate disambiguators (``core[c1f1a4ba060b9bfa]``)."""
    return re.sub(r"\[[0-9a-f]+\]", "", name)


def test_all_tokio_code_matches_the_oracle(tokio_build, no_fd_leak):
    """Every seventh byte of every function with "tokio" in its symbol name.

    Identical-code folding puts several functions at one address; tools then pick different
    ones (GNU addr2line prints all of their chains one after another). So the chain must match
    the oracle's first chain, and the outermost function's name may be another of the folded
    functions; its file:line must still match.
    """
    variant, binary = tokio_build
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    addresses = [
        a
        for name, start, size in _symbols(binary)
        if "tokio" in name
        for a in range(start, start + size, 7)
    ]
    oracle = addr2line_chains(binary, addresses, tool_name=_oracle_tool(variant))
    compared = exact = 0
    for address in addresses:
        expected = oracle.get(address, [])
        if not any(file for _, file, _ in expected):
            continue  # the oracle fell back to the symbol table: no DWARF there
        got = [(f.function, f.file, f.line) for f in info.frames(address)]
        compared += 1
        if got == expected:
            exact += 1
            continue
        n = len(got)
        assert n and got[:-1] == expected[: n - 1], f"{address:#x}"
        assert got[-1][1:] == expected[n - 1][1:], f"{address:#x}"
    assert compared > 0.9 * len(addresses)
    assert exact > 0.7 * compared
