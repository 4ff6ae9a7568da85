"""ELF notes (``SHT_NOTE`` sections, ``PT_NOTE`` segments, ``/sys/kernel/notes``).

A note is ``namesz, descsz, type`` (three 32-bit words in the file's byte order), then the name
and the descriptor, each starting at an offset aligned to the note block's alignment (4, or 8
as in ``.note.gnu.property``). :func:`parse_notes` raises
:class:`~profiler.elf.errors.ElfError` when a note runs past the end of its block; it never reads
outside ``raw``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ElfError

NT_GNU_BUILD_ID = 3
_HEADER = 12


@dataclass(frozen=True, slots=True)
class Note:
    """One note: its owner name (``"GNU"``, ``"Linux"``...), type and descriptor bytes."""

    name: str
    type: int
    desc: bytes


def parse_notes(raw: bytes, byte_order: str, align: int = 4) -> list[Note]:
    """The notes of one note block ``raw`` (``byte_order``: ``"<"``, ``">"`` or ``"="``)."""
    align = 8 if align == 8 else 4
    mask = align - 1
    header = struct.Struct(byte_order + "III")
    notes = []
    at = 0
    size = len(raw)
    while at + _HEADER <= size:
        namesz, descsz, n_type = header.unpack_from(raw, at)
        name_at = at + _HEADER
        desc_at = (name_at + namesz + mask) & ~mask
        end = (desc_at + descsz + mask) & ~mask
        if desc_at + descsz > size or name_at + namesz > size:
            raise ElfError(f"note at {at:#x} runs past the end of its block ({size} bytes)")
        name = raw[name_at : name_at + namesz].rstrip(b"\0").decode("ascii", "replace")
        notes.append(Note(name, n_type, bytes(raw[desc_at : desc_at + descsz])))
        at = end
    return notes


def gnu_build_id(notes: list[Note]) -> str:
    """The GNU build id (lower-case hex) among ``notes``, or ``""``."""
    for note in notes:
        if note.name == "GNU" and note.type == NT_GNU_BUILD_ID and note.desc:
            return note.desc.hex()
    return ""
