"""MiniDebugInfo: the ``.gnu_debugdata`` section (Fedora, RHEL, CentOS and their images).

Such distributions strip binaries but embed an xz-compressed ELF file holding a ``.symtab`` of
the functions that ``.dynsym`` lacks (static and hidden ones), so a stripped binary can still be
symbolized without its debug package. ``lzma`` (standard library) decompresses it.

Decompression is bounded: at most :data:`MAX_RATIO` times the section's size (and
:data:`MAX_DECOMPRESSED` in all), with the decoder's memory capped (:data:`MEMORY_LIMIT`), so an
xz bomb or an xz header asking for a 1.5 GiB dictionary is refused. A section that is not a
complete xz stream of an ELF file raises :class:`~profiler.elf.errors.ElfError`.
"""

from __future__ import annotations

import lzma

from ..elf.errors import ElfError
from ..elf.file import SHT_NOBITS, ElfFile
from ..elf.symbols import SymbolTable

MAX_DECOMPRESSED = 64 << 20  # refuse a section that would inflate beyond this
MAX_RATIO = 64  # a .symtab compresses 3-6x with xz
MEMORY_LIMIT = 64 << 20  # the xz decoder's memory (dictionary); distributions use 8 MiB


def mini_debuginfo_symbols(elf: ElfFile) -> SymbolTable | None:
    """The function symbols of ``elf``'s ``.gnu_debugdata``, or ``None`` if it has none.

    Raises :class:`~profiler.elf.errors.ElfError` if the section is malformed, too large once
    decompressed, or not an ELF file.
    """
    section = elf.section(".gnu_debugdata")
    if section is None or not section.size or section.type == SHT_NOBITS:
        return None
    packed = elf.read_section(section)
    limit = min(MAX_DECOMPRESSED, MAX_RATIO * len(packed) + (1 << 20))
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=MEMORY_LIMIT)
    try:
        image = decompressor.decompress(packed, max_length=limit)
    except lzma.LZMAError as e:
        raise ElfError(f"{elf.name}: .gnu_debugdata: {e}") from None
    if not decompressor.eof:
        raise ElfError(
            f"{elf.name}: .gnu_debugdata is cut short or inflates past {limit} bytes "
            f"({len(packed)} compressed)"
        )
    embedded = ElfFile.from_bytes(image, f"{elf.name}[.gnu_debugdata]")
    return SymbolTable.from_elf(embedded, allow_dynsym=False)
