"""DWARF inline expansion of a C program (gcc -O2 -g, static inline functions) vs addr2line -i."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from profiler.symbolize import dwarf
from profiler.symbolize.dwarf import DwarfInfo
from tests.support import skip_or_fail

from .builds import build_c_program, build_cpp_program
from .oracle import addr2line_chains


def _function_addresses(binary: str) -> dict[str, range]:
    """Every sized function symbol's address range, from the ELF symbol table."""
    with open(binary, "rb") as stream:
        symtab = ELFFile(stream).get_section_by_name(".symtab")
        return {
            s.name: range(s["st_value"], s["st_value"] + s["st_size"])
            for s in symtab.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] > 0
        }


@pytest.fixture(params=[4, 5], ids=["dwarf4", "dwarf5"])
def c_binary(request, tmp_path) -> str:
    dwarf.clear_cache()
    return build_c_program(tmp_path, request.param)


def test_every_address_matches_addr2line(c_binary, no_fd_leak):
    functions = _function_addresses(c_binary)
    addresses = [a for span in functions.values() for a in span]
    oracle = addr2line_chains(c_binary, addresses)
    info = DwarfInfo.for_elf(c_binary)
    assert info is not None
    compared = 0
    for address in addresses:
        expected = oracle.get(address, [])
        if not any(file for _, file, _ in expected):
            continue  # addr2line fell back to the symbol table (crt code without DWARF)
        got = [(f.function, f.file, f.line) for f in info.frames(address)]
        assert got == expected, f"{address:#x}"
        compared += 1
    assert compared >= len(functions["work"])


def test_inlined_chain_marks_inlined_frames_and_call_sites(c_binary):
    info = DwarfInfo.for_elf(c_binary)
    chains = [info.frames(a) for a in _function_addresses(c_binary)["work"]]
    deepest = max(chains, key=len)
    assert [f.function for f in deepest] == ["mix", "step", "crunch", "work"]
    assert [f.inlined for f in deepest] == [True, True, True, False]
    with open(deepest[0].file) as stream:
        source = stream.read().splitlines()
    # Each caller's line is the call site of the frame inside it.
    for callee, caller in itertools.pairwise(deepest):
        assert f"{callee.function}(" in source[caller.line - 1]


def test_uses_range_lists_in_dwarf5(tmp_path):
    binary = build_c_program(tmp_path, 5)
    with open(binary, "rb") as stream:
        assert ELFFile(stream).get_section_by_name(".debug_rnglists") is not None


def test_without_aranges_the_units_own_ranges_are_used(tmp_path):
    binary = build_c_program(tmp_path, 5)
    stripped = tmp_path / "no-aranges"
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        skip_or_fail("needs objcopy (binutils)")
    subprocess.run([objcopy, "--remove-section=.debug_aranges", binary, str(stripped)], check=True)
    dwarf.clear_cache()
    work = _function_addresses(binary)["work"]
    with_aranges = [DwarfInfo.for_elf(binary).frames(a) for a in work]
    dwarf.clear_cache()
    without = DwarfInfo.for_elf(str(stripped))
    assert without._aranges is None
    assert [without.frames(a) for a in work] == with_aranges


def test_no_debug_info_gives_none(tmp_path, no_fd_leak):
    dwarf.clear_cache()
    assert DwarfInfo.for_elf(build_c_program(tmp_path, 5, debug=False)) is None


def test_address_outside_any_unit_gives_no_frames(c_binary):
    info = DwarfInfo.for_elf(c_binary)
    assert info.frames(0x10) == []
    assert info.frames(1 << 60) == []


def test_cached_by_build_id_across_paths_and_argument_kinds(c_binary, tmp_path, no_fd_leak):
    copy = tmp_path / "copy-of-binary"
    shutil.copy(c_binary, copy)
    first = DwarfInfo.for_elf(c_binary)
    assert DwarfInfo.for_elf(str(copy)) is first
    with open(c_binary, "rb") as stream:
        assert DwarfInfo.for_elf(ELFFile(stream)) is first
    assert first.key == _build_id(c_binary)


def test_accepts_the_symbolizers_elf_file(c_binary, no_fd_leak):
    from profiler.elf import file as elf_file

    with elf_file.ElfFile.open(c_binary) as elf:
        info = DwarfInfo.for_elf(elf)
    assert info is DwarfInfo.for_elf(c_binary)  # same build id, same index
    outermost = info.frames(_function_addresses(c_binary)["work"].start)[-1]
    assert (outermost.function, outermost.qualified_name, outermost.inlined) == (
        "work",
        "work",
        False,
    )


def test_memo_returns_fresh_lists(c_binary):
    info = DwarfInfo.for_elf(c_binary)
    address = _function_addresses(c_binary)["work"].start
    first = info.frames(address)
    first.clear()
    assert info.frames(address) != []


def _build_id(binary: str) -> str:
    out = subprocess.run(["readelf", "-n", binary], capture_output=True, text=True).stdout
    return out.split("Build ID:")[1].split()[0]


def test_cpp_chains_and_qualified_names(tmp_path):
    """C++: methods defined outside their class (DW_AT_specification), templates, a lambda.

    File:line chains match addr2line exactly. Names differ by design: addr2line prints the
    symbol table's name for the outermost frame (``...constprop.0``) and a bare ``operator()``,
    we print what DWARF says, qualified by namespaces and classes.
    """
    binary = build_cpp_program(tmp_path)
    info = DwarfInfo.for_elf(binary)
    addresses = [a for span in _function_addresses(binary).values() for a in span]
    oracle = addr2line_chains(binary, addresses)
    deepest: list = []
    for address in addresses:
        expected = oracle.get(address, [])
        if not any(file for _, file, _ in expected):
            continue
        frames = info.frames(address)
        assert [(f.file, f.line) for f in frames] == [(file, line) for _, file, line in expected]
        deepest = max(deepest, frames, key=len)
    assert deepest[0].qualified_name == "app::Accumulator::add"
    assert deepest[0].function == "_ZN3app11Accumulator3addEm"  # linkage name via specification
    assert deepest[-1].qualified_name.startswith("app::run<")
    assert [f.inlined for f in deepest] == [True] * (len(deepest) - 1) + [False]
