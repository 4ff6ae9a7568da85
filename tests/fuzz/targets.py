"""Helpers to aim mutations at one section of a seed and to pick addresses to look up."""

from __future__ import annotations

import functools
import struct

from profiler.elf.compressed import section_data
from profiler.elf.file import SHT_NOBITS, ElfFile
from profiler.elf.symbols import SymbolTable


def section_bytes(image: bytes, name: str) -> bytes:
    """The (inflated) bytes of section ``name`` of ``image`` (``b""`` if absent)."""
    elf = ElfFile.from_bytes(image)
    section = elf.section(name)
    if section is None or section.type == SHT_NOBITS:
        return b""
    return section_data(elf, section)


def splice(image: bytes, name: str, data: bytes) -> bytes:
    """``image`` with section ``name``'s bytes replaced by ``data``: written in place (and its
    ``sh_size`` shrunk) when it fits, else appended at the end of the file and pointed to.
    The section's compression flag is cleared: ``data`` is stored as is."""
    elf = ElfFile.from_bytes(image)
    index = next(i for i, s in enumerate(elf.sections) if s.name == name)
    section = elf.sections[index]
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    header = shoff + 64 * index
    out = bytearray(image)
    if len(data) <= section.size:
        out[section.offset : section.offset + len(data)] = data
        offset = section.offset
    else:
        offset = len(out)
        out += data
    flags = section.flags & ~0x800  # SHF_COMPRESSED
    struct.pack_into("<Q", out, header + 8, flags)
    struct.pack_into("<QQ", out, header + 24, offset, len(data))
    return bytes(out)


@functools.cache
def _addresses(image: bytes) -> tuple[int, ...]:
    elf = ElfFile.from_bytes(image)
    table = SymbolTable.from_elf(elf)
    if table is None:
        return (0x1000,)
    out = []
    for _, start, end in table.symbols():
        out += [start, (start + end) // 2, max(start, end - 1)]
    return tuple(out)


def addresses(image: bytes, limit: int = 48) -> list[int]:
    """Function addresses of the (unmutated) seed ``image``: starts, middles and last bytes of
    its symbols, at most ``limit`` of them, spread over the table."""
    found = _addresses(image)
    step = max(1, len(found) // limit)
    return list(found[::step][:limit])
