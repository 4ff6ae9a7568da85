"""MiniDebugInfo: the ``.gnu_debugdata`` section (Fedora, RHEL, CentOS and their images).

Such distributions strip binaries but embed an xz-compressed ELF file holding a ``.symtab`` of
the functions that ``.dynsym`` lacks (static and hidden ones), so a stripped binary can still be
symbolized without its debug package. ``lzma`` (standard library) decompresses it.
"""

from __future__ import annotations

import lzma

from ..elf.file import ElfFile, NotElfError
from ..elf.symbols import SymbolTable

MAX_DECOMPRESSED = 256 << 20  # refuse a section that would inflate beyond this


def mini_debuginfo_symbols(elf: ElfFile) -> SymbolTable | None:
    """The function symbols of ``elf``'s ``.gnu_debugdata``, or ``None`` if it has none."""
    section = elf.section(".gnu_debugdata")
    if section is None or not section.size:
        return None
    try:
        decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        image = decompressor.decompress(elf.read_section(section), max_length=MAX_DECOMPRESSED)
        embedded = ElfFile.from_bytes(image, f"{elf.name}[.gnu_debugdata]")
    except (lzma.LZMAError, NotElfError, EOFError):
        return None
    return SymbolTable.from_elf(embedded, allow_dynsym=False)
