"""Mutations of seed bytes, as hypothesis strategies: byte flips, truncations, insertions, and
field-targeted writes of extreme values (offsets, sizes, counts, entry sizes).

A mutation is plain data (so hypothesis can shrink and print it); :func:`apply` performs a list
of them on a copy of the seed. Field-targeted mutations aim at the places a parser trusts: the
ELF header, program and section headers (:func:`elf_fields`), the length and pointer fields of
CFI entries (:func:`cfi_fields`), and the headers of DWARF units and line programs
(:func:`unit_fields`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import strategies as st

from profiler.elf.file import ElfFile

# Values that break parsers: zero, one, sign boundaries, all ones, and sizes near 2**63/2**64.
EXTREMES = (
    0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
    0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63,
    (1 << 64) - 2, (1 << 64) - 1,
)  # fmt: skip
# Byte runs that stress decoders: endless LEB128 continuations, NULs, all ones.
RUNS = (b"\x80", b"\xff", b"\x00", b"\x7f", b"\x01")


@dataclass(frozen=True)
class Mutation:
    """One edit: ``kind`` is flip, byte, int, truncate, insert, delete or field."""

    kind: str
    at: int
    value: int = 0
    width: int = 0
    data: bytes = b""

    def apply(self, buf: bytearray, little: bool) -> bytearray:
        """Apply to ``buf`` (in place when the size stays; returns the result)."""
        size = len(buf)
        if not size and self.kind not in ("insert",):
            return buf
        at = self.at % (size + 1) if self.kind in ("truncate", "insert") else self.at % size
        if self.kind == "flip":
            buf[at] ^= 1 << (self.value & 7)
        elif self.kind == "byte":
            buf[at] = self.value & 0xFF
        elif self.kind in ("int", "field"):
            width = min(self.width, size - at)
            mask = (1 << (8 * width)) - 1
            raw = (self.value & mask).to_bytes(width, "little" if little else "big")
            buf[at : at + width] = raw
        elif self.kind == "truncate":
            del buf[at:]
        elif self.kind == "insert":
            buf[at:at] = self.data
        elif self.kind == "delete":
            del buf[at : at + self.value]
        return buf


def _values(size: int) -> st.SearchStrategy[int]:
    near = (size - 1, size, size + 1, size // 2)
    return st.one_of(
        st.sampled_from(EXTREMES + tuple(v for v in near if v >= 0)),
        st.integers(min_value=0, max_value=(1 << 64) - 1),
    )


def mutations(
    size: int, fields: list[tuple[int, int]] = (), max_mutations: int = 4
) -> st.SearchStrategy[list[Mutation]]:
    """Lists of mutations for an input of ``size`` bytes whose known fields are ``fields``
    (``(offset, width)`` pairs)."""
    position = st.integers(min_value=0, max_value=max(size - 1, 0))
    one = [
        st.builds(Mutation, st.just("flip"), position, st.integers(0, 7)),
        st.builds(Mutation, st.just("byte"), position, st.integers(0, 255)),
        st.builds(Mutation, st.just("int"), position, _values(size), st.sampled_from((1, 2, 4, 8))),
        st.builds(Mutation, st.just("truncate"), position),
        st.builds(
            Mutation,
            st.just("insert"),
            position,
            data=st.one_of(
                st.binary(min_size=1, max_size=16),
                st.builds(lambda b, n: b * n, st.sampled_from(RUNS), st.integers(1, 4096)),
            ),
        ),
        st.builds(Mutation, st.just("delete"), position, st.integers(1, 64)),
    ]
    if fields:
        field = st.sampled_from(list(fields))
        one.append(
            field.flatmap(
                lambda f: st.builds(
                    Mutation, st.just("field"), st.just(f[0]), _values(size), st.just(f[1])
                )
            )
        )
        one.append(one[-1])  # headers are where parsers trust the most: weigh them double
    return st.lists(st.one_of(one), min_size=1, max_size=max_mutations)


def apply(seed: bytes, edits: list[Mutation], little: bool = True) -> bytes:
    """The seed with ``edits`` applied in order."""
    buf = bytearray(seed)
    for edit in edits:
        buf = edit.apply(buf, little)
    return bytes(buf)


def elf_fields(image: bytes) -> list[tuple[int, int]]:
    """``(offset, width)`` of the ELF header's, program headers' and section headers' fields
    (64-bit little-endian layout, as all our seeds are)."""
    elf = ElfFile.from_bytes(image)
    fields = [(0x10, 2), (0x12, 2), (0x20, 8), (0x28, 8), (0x36, 2), (0x38, 2), (0x3A, 2),
              (0x3C, 2), (0x3E, 2)]  # fmt: skip
    phoff, shoff = struct.unpack_from("<QQ", image, 0x20)
    for i in range(len(elf.segments)):
        base = phoff + 56 * i
        fields += [(base, 4), (base + 8, 8), (base + 16, 8), (base + 32, 8), (base + 40, 8)]
    for i in range(len(elf.sections)):
        base = shoff + 64 * i
        fields += [(base, 4), (base + 4, 4), (base + 8, 8), (base + 24, 8), (base + 32, 8),
                   (base + 40, 4), (base + 56, 8)]  # fmt: skip
    return fields


def section_fields(image: bytes, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The section header fields (offset, size, link, entsize) of the sections ``names``."""
    elf = ElfFile.from_bytes(image)
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    fields = []
    for i, section in enumerate(elf.sections):
        if section.name in names:
            base = shoff + 64 * i
            fields += [(base + 24, 8), (base + 32, 8), (base + 40, 4), (base + 56, 8)]
    return fields


def cfi_fields(data: bytes, eh_frame: bool) -> list[tuple[int, int]]:
    """Length, CIE pointer and the first pointer fields of every CFI entry in ``data``."""
    fields = []
    pos = 0
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        if length == 0 or length == 0xFFFFFFFF:
            break
        fields += [(pos, 4), (pos + 4, 4), (pos + 8, 4), (pos + 12, 4), (pos + 16, 1)]
        pos += 4 + length
    return fields or [(0, 4)]


def unit_fields(data: bytes) -> list[tuple[int, int]]:
    """Header fields of every unit (``.debug_info``, ``.debug_line``...: 32-bit DWARF) in
    ``data``: length, version and the twelve bytes after them (offsets, sizes, line header)."""
    fields = []
    pos = 0
    while pos + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        fields += [(pos, 4), (pos + 4, 2), (pos + 6, 4), (pos + 8, 4), (pos + 10, 1)]
        fields += [(pos + k, 1) for k in range(11, 20)]
        if length in (0, 0xFFFFFFFF):
            break
        pos += 4 + length
    return fields or [(0, 4)]
