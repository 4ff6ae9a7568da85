"""The ELF reader and symbol tables, checked against binutils (readelf, nm) as oracles."""

from __future__ import annotations

import struct

import pytest

from profiler.elf.file import PF_X, PT_LOAD, AddressSpace, ElfFile, NotElfError, Segment
from profiler.elf.symbols import SymbolTable

from .native_programs import nm_symbols, run_tool

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def _readelf_build_id(path) -> str:
    for line in run_tool("readelf", "-n", str(path)).splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return ""


def test_build_id_matches_readelf(debug_program):
    for path in (debug_program["full"], debug_program["stripped"], debug_program["debug"]):
        with ElfFile.open(str(path)) as elf:
            assert elf.build_id == _readelf_build_id(path)
            assert elf.build_id


def test_build_id_from_program_headers_when_sections_are_gone(debug_program):
    image = bytearray(debug_program["full"].read_bytes())
    # Drop the section header table (as sstrip does): e_shoff, e_shnum and e_shstrndx.
    struct.pack_into("<Q", image, 0x28, 0)
    struct.pack_into("<HH", image, 0x3C, 0, 0)
    elf = ElfFile.from_bytes(bytes(image))
    assert elf.sections == []
    assert elf.build_id == _readelf_build_id(debug_program["full"])


def test_not_an_elf_file(tmp_path, no_fd_leak):
    path = tmp_path / "text"
    path.write_text("#!/bin/sh\necho hello, this is not ELF at all, but long enough to read\n")
    with pytest.raises(NotElfError):
        ElfFile.open(str(path))


def test_address_space_of_an_lld_style_layout():
    # Code at file offset 0x5e0 but virtual address 0x15e0 (lld), sharing page 0 with rodata.
    space = AddressSpace(
        (
            Segment(PT_LOAD, PF_X | 4, 0x5E0, 0x15E0, 0x140, 0x140),
            Segment(PT_LOAD, 4, 0x0, 0x0, 0x5D4, 0x5D4),
        )
    )
    assert space.file_offset_to_vaddr(0x600) == 0x1600
    assert space.file_offset_to_vaddr(0x100) == 0x100
    assert space.file_offset_to_vaddr(0x10000) is None


def test_executable_segment_wins_a_shared_page(debug_program):
    with ElfFile.open(str(debug_program["full"])) as elf:
        space = AddressSpace.of(elf)
    assert space.loads[0].flags & PF_X


@pytest.mark.parametrize("which", ["program .symtab", "libc .dynsym"])
def test_every_function_symbol_is_found_at_its_first_and_last_byte(which, debug_program):
    path = str(debug_program["full"]) if which.startswith("program") else LIBC
    oracle = nm_symbols(path, dynamic=which.endswith("dynsym"))
    with ElfFile.open(path) as elf:
        table = SymbolTable.from_elf(elf)
    assert table is not None and table.source == which.split()[1]
    names_at: dict[int, set[str]] = {}
    for name, (start, _) in oracle.items():
        names_at.setdefault(start, set()).add(name.split("@")[0])
    checked = 0
    for _name, (start, size) in oracle.items():
        if size == 0:
            continue
        for addr in (start, start + size - 1):
            found = table.lookup(addr)
            assert found is not None, hex(addr)
            assert found[0] in names_at[found[1]]
            assert found[1] <= addr
        checked += 1
    assert checked > 3


def test_debug_file_symtab_lists_static_functions(debug_program):
    with ElfFile.open(str(debug_program["debug"])) as elf:
        table = SymbolTable.from_elf(elf, allow_dynsym=False)
    names = {name for name, _, _ in table.symbols()}
    assert {"alpha", "beta", "gamma_local", "main"} <= names
