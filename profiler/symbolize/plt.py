"""Names for PLT stubs (``puts@plt``) on x86-64, found the way binutils' objdump finds them.

A sample in a PLT stub lands in no symbol. Each stub jumps through a GOT slot
(``jmp *disp(%rip)``, maybe after ``endbr64`` or with a ``bnd`` prefix); the dynamic relocation
of that slot (``R_X86_64_JUMP_SLOT`` in ``.rela.plt``, ``R_X86_64_GLOB_DAT`` for ``.plt.got``)
names the function. Decoding the jump instead of assuming a layout makes this work for GNU ld's
lazy ``.plt``, ``.plt.sec`` (IBT), ``.plt.got`` and lld's layout alike.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable

from .elf_file import ElfFile

EM_X86_64 = 62
SHT_RELA = 4
R_X86_64_IRELATIVE = 37  # no symbol: the addend is the address of the IFUNC resolver
_PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got")
_JMP_GOT = b"\xff\x25"  # jmp *disp32(%rip)


class PltTable:
    """PLT stubs sorted by address; ``lookup(vaddr)`` gives ``("name@plt", start)`` or ``None``."""

    __slots__ = ("_ends", "_names", "_starts")

    def __init__(self, stubs: list[tuple[int, int, str]]) -> None:
        """``stubs``: ``(start, end, name)``."""
        stubs = sorted(stubs)
        self._starts = [s[0] for s in stubs]
        self._ends = [s[1] for s in stubs]
        self._names = [s[2] for s in stubs]

    def __len__(self) -> int:
        return len(self._starts)

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """The stub containing ``vaddr``."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i < 0 or vaddr >= self._ends[i]:
            return None
        return self._names[i], self._starts[i]

    def stubs(self) -> list[tuple[str, int]]:
        """All stubs as ``(name, start)`` (for tests and tools)."""
        return list(zip(self._names, self._starts, strict=True))


def _slot_names(elf: ElfFile, resolve: Callable[[int], str | None]) -> dict[int, str]:
    """GOT slot address -> name of the dynamic symbol its relocation refers to."""
    dynsym = elf.section(".dynsym")
    if dynsym is None or not 0 < dynsym.link < len(elf.sections):
        return {}
    symbols = elf.read_section(dynsym)
    strtab = elf.read_section(elf.sections[dynsym.link])
    names = {}
    for section in elf.sections:
        if section.type != SHT_RELA or section.link != elf.sections.index(dynsym):
            continue
        raw = elf.read_section(section)
        for offset, info, addend in struct.iter_unpack("<QQq", raw[: len(raw) - len(raw) % 24]):
            index = info >> 32
            if index == 0 and info & 0xFFFFFFFF == R_X86_64_IRELATIVE:
                name = resolve(addend)  # objdump says *ABS*+0xADDEND; the resolver has a name
                if name:
                    names[offset] = name
                continue
            if index == 0 or (index + 1) * 24 > len(symbols):
                continue
            (name_off,) = struct.unpack_from("<I", symbols, index * 24)
            end = strtab.find(b"\0", name_off)
            if end > name_off:
                names[offset] = strtab[name_off:end].decode("utf-8", "replace")
    return names


def plt_table(
    elf: ElfFile, resolve: Callable[[int], str | None] = lambda vaddr: None
) -> PltTable | None:
    """The PLT stubs of an x86-64 ELF file, or ``None`` if it has none we can name.

    ``resolve(vaddr)`` names an address (the binary's symbol table): it names the stubs of
    IFUNCs, whose relocations carry only the resolver's address.
    """
    if elf.machine != EM_X86_64 or not elf.is64 or not elf.little_endian:
        return None
    plts = [elf.section(name) for name in _PLT_SECTIONS]
    plts = [s for s in plts if s is not None and s.size and s.type != 8]  # 8: SHT_NOBITS
    if not plts:
        return None
    slots = _slot_names(elf, resolve)
    if not slots:
        return None
    stubs = []
    for section in plts:
        code = elf.read_section(section)
        stride = section.entsize if section.entsize in (8, 16) else 16
        for at in range(0, len(code) - stride + 1, stride):
            entry = code[at : at + stride]
            jump = entry.find(_JMP_GOT)
            if jump < 0 or jump + 6 > len(entry):
                continue
            (disp,) = struct.unpack_from("<i", entry, jump + 2)
            slot = section.addr + at + jump + 6 + disp  # rip-relative: from the next instruction
            name = slots.get(slot)
            if name is not None:
                start = section.addr + at
                stubs.append((start, start + stride, f"{name}@plt"))
    return PltTable(stubs) if stubs else None
