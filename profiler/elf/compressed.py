"""Compressed sections: ``SHF_COMPRESSED`` (``Elf*_Chdr`` + zlib) and GNU ``.zdebug_*``.

Go writes its ``.debug_frame`` compressed, and ``-gz`` builds compress DWARF. Inflating is
bounded: the size the header claims must be at most :data:`MAX_RATIO` times the compressed
bytes (plus 1 MiB) and at most :data:`MAX_SIZE`, and the stream must inflate to exactly that
size; otherwise :class:`~profiler.elf.errors.ElfError`. zstd (``ELFCOMPRESS_ZSTD``) is not in
Python's standard library: such a section raises ``ElfError`` too.
"""

from __future__ import annotations

import struct
import zlib

from .errors import ElfError
from .file import SHF_COMPRESSED, ElfFile, Section

ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
MAX_RATIO = 64  # DWARF and CFI inflate 3-10x; zlib's own limit is ~1000x
MAX_SIZE = 1 << 30


def section_data(elf: ElfFile, section: Section) -> bytes:
    """The bytes of ``section``, inflated if it is compressed (see the module docstring)."""
    raw = elf.read_section(section)
    if section.flags & SHF_COMPRESSED:
        fmt = elf.byte_order + ("IIQQ" if elf.is64 else "III")
        header = struct.calcsize(fmt)
        if len(raw) < header:
            raise ElfError(f"{elf.name}: {section.name}: truncated compression header")
        fields = struct.unpack_from(fmt, raw, 0)
        kind, size = fields[0], fields[2] if elf.is64 else fields[1]
        if kind != ELFCOMPRESS_ZLIB:
            raise ElfError(f"{elf.name}: {section.name}: compression type {kind} not supported")
        return _inflate(elf, section, raw[header:], size)
    if section.name.startswith(".zdebug") and raw[:4] == b"ZLIB" and len(raw) >= 12:
        (size,) = struct.unpack_from(">Q", raw, 4)
        return _inflate(elf, section, raw[12:], size)
    return raw


def _inflate(elf: ElfFile, section: Section, data: bytes, size: int) -> bytes:
    limit = min(MAX_SIZE, MAX_RATIO * len(data) + (1 << 20))
    if size > limit:
        raise ElfError(
            f"{elf.name}: {section.name}: claims {size} bytes inflated from {len(data)} "
            f"(limit {limit})"
        )
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max(size, 1))  # max_length 0 would mean "no limit"
    except zlib.error as e:
        raise ElfError(f"{elf.name}: {section.name}: {e}") from None
    if len(out) != size or not inflater.eof:
        raise ElfError(f"{elf.name}: {section.name}: does not inflate to its {size} bytes")
    return out
