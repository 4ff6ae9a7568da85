"""``profiler.elf.symbols.find_symbols`` (a few names out of a large table, no other name
decoded) against ``iter_symbols`` (every entry decoded) on real binaries, and on tables whose
string table shares suffixes and versions names."""

from __future__ import annotations

import os

import pytest

from profiler.elf.file import SHT_DYNSYM, SHT_SYMTAB, ElfFile
from profiler.elf.symbols import find_symbols, iter_symbols
from tests.support import skip_or_fail

BINARIES = {
    "debian-python3.11": ("/usr/bin/python3.11", ("_PyRuntime", "Py_Version", "PyCode_Type")),
    "libc": ("/usr/lib/x86_64-linux-gnu/libc.so.6", ("memcpy", "malloc", "clock_nanosleep")),
    "pyenv-libpython3.12": (
        os.path.expanduser("~/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"),
        ("_PyRuntime", "Py_Version", "_PyEval_EvalFrameDefault", "PyCode_Type"),
    ),
}


def _oracle(elf: ElfFile, names: tuple[str, ...], dynamic_only: bool) -> dict:
    """The first defined entry of each name, ``.dynsym`` first, by decoding every entry."""
    found: dict[str, tuple[int, int]] = {}
    for kind in (SHT_DYNSYM,) if dynamic_only else (SHT_DYNSYM, SHT_SYMTAB):
        for section in (s for s in elf.sections if s.type == kind and s.size > 0):
            for sym in iter_symbols(elf, section):
                name = sym.name.split("@", 1)[0] if "@" in sym.name[1:] else sym.name
                if name in names and name not in found and sym.shndx and sym.value:
                    found[name] = (sym.value, sym.size)
    return found


@pytest.mark.parametrize("which", sorted(BINARIES))
@pytest.mark.parametrize("dynamic_only", [True, False])
def test_the_same_symbols_as_every_entry_decoded(which, dynamic_only):
    path, names = BINARIES[which]
    if not os.path.exists(path):
        skip_or_fail(f"{path} is not installed")
    with ElfFile.open(path) as elf:
        found = find_symbols(elf, (*names, "no_such_symbol_here"), dynamic_only=dynamic_only)
        expected = _oracle(elf, names, dynamic_only)
    assert expected, f"{which}: the oracle found none of {names}"
    assert found == expected


def _elf_with_symbols(strtab: bytes, entries: list[tuple[int, int, int]]) -> bytes:
    """A minimal 64-bit ELF with a .dynsym of ``(name offset, value, size)`` entries."""
    import struct

    names = b"\0.dynsym\0.dynstr\0.shstrtab\0"
    symtab = bytes(24) + b"".join(
        struct.pack("<IBBHQQ", off, 0x12, 0, 1, value, size) for off, value, size in entries
    )
    body = [symtab, strtab, names]
    offsets = []
    at = 64
    for part in body:
        offsets.append(at)
        at += len(part)
    shoff = at
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, 4, 3)
    shdrs = bytes(64)
    shdrs += struct.pack("<IIQQQQIIQQ", 1, 11, 2, 0, offsets[0], len(symtab), 2, 1, 8, 24)
    shdrs += struct.pack("<IIQQQQIIQQ", 9, 3, 2, 0, offsets[1], len(strtab), 0, 0, 1, 0)
    shdrs += struct.pack("<IIQQQQIIQQ", 17, 3, 0, 0, offsets[2], len(names), 0, 0, 1, 0)
    return header + b"".join(body) + shdrs


def test_shared_suffixes_and_versions():
    """``Py_Version`` may be the tail of ``_Py_Version``'s string (a linker shares suffixes):
    only an entry whose name starts there is it; ``name@VERSION`` counts as ``name``."""
    strtab = b"\0_Py_Version\0memcpy@GLIBC_2.14\0"
    tail = strtab.index(b"Py_Version")
    image = _elf_with_symbols(
        strtab, [(1, 0x1000, 4), (tail, 0x2000, 4), (strtab.index(b"memcpy"), 0x3000, 16)]
    )
    elf = ElfFile.from_bytes(image)
    assert find_symbols(elf, ("Py_Version", "_Py_Version", "memcpy")) == {
        "_Py_Version": (0x1000, 4),
        "Py_Version": (0x2000, 4),
        "memcpy": (0x3000, 16),
    }
    only_long = _elf_with_symbols(strtab, [(1, 0x1000, 4)])
    assert find_symbols(ElfFile.from_bytes(only_long), ("Py_Version",)) == {}
