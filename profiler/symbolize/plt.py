"""Names for PLT stubs (``puts@plt``) on x86-64, found the way binutils' objdump finds them.

A sample in a PLT stub lands in no symbol. Each stub jumps through a GOT slot
(``jmp *disp(%rip)``, maybe after ``endbr64`` or with a ``bnd`` prefix); the dynamic relocation
of that slot (``R_X86_64_JUMP_SLOT`` in ``.rela.plt``, ``R_X86_64_GLOB_DAT`` for ``.plt.got``)
names the function. Decoding the jump instead of assuming a layout makes this work for GNU ld's
lazy ``.plt``, ``.plt.sec`` (IBT), ``.plt.got`` and lld's layout alike.

Every index into the relocation and symbol tables is checked; sections outside the file raise
``ElfError`` (from ``ElfFile``), the one error of :func:`plt_table`.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Callable

from ..elf.file import ElfFile
from ..elf.symbols import MAX_SYMBOL_NAME

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


def _name_slots(
    elf: ElfFile, slots: set[int], got_slots: set[int], resolve: Callable[[int], str | None]
) -> dict[int, str]:
    """GOT slot address -> name, from the dynamic relocations of those slots.

    ``slots`` are looked up in ``.rela.plt``; ``got_slots`` (those of ``.plt.got`` stubs) also in
    the other relocation sections. The lazy PLT's header jumps through a slot no relocation
    names: it must not send us through megabytes of ``.rela.dyn``.
    """
    dynsym = elf.section(".dynsym")
    if dynsym is None or not 0 < dynsym.link < len(elf.sections):
        return {}
    dynsym_index = elf.sections.index(dynsym)
    symbols = elf.read_section(dynsym)
    strtab = elf.read_section(elf.sections[dynsym.link])
    relas = [s for s in elf.sections if s.type == SHT_RELA and s.link == dynsym_index]
    # .rela.plt (small, and where most slots are) first; .rela.dyn (often megabytes of RELATIVE
    # relocations) only if slots remain, and searched at C speed rather than walked in Python.
    relas.sort(key=lambda s: (s.name != ".rela.plt", s.size))
    names: dict[int, str] = {}
    for section in relas:
        wanted = slots | got_slots if section.name == ".rela.plt" else got_slots
        remaining = wanted - names.keys()
        if not remaining:
            break
        raw = elf.read_section(section)
        table = array("Q", raw[: len(raw) - len(raw) % 24])
        offsets = table[0::3]
        if len(remaining) > 8:  # many slots: one pass to index them all
            position = dict(zip(offsets, range(len(offsets)), strict=True))
            found = [(slot, position[slot]) for slot in remaining if slot in position]
        else:  # a few (.plt.got): array.index searches at C speed, no dict of every entry
            found = [(slot, offsets.index(slot)) for slot in remaining if slot in offsets]
        for slot, i in found:
            info, addend = table[3 * i + 1], struct.unpack_from("<q", raw, 24 * i + 16)[0]
            index = info >> 32
            if index == 0:
                if info & 0xFFFFFFFF == R_X86_64_IRELATIVE:
                    name = resolve(addend)  # objdump: *ABS*+0xADDEND; the resolver has a name
                    if name:
                        names[slot] = name
                continue
            if (index + 1) * 24 > len(symbols):
                continue
            (name_off,) = struct.unpack_from("<I", symbols, index * 24)
            end = strtab.find(b"\0", name_off, name_off + MAX_SYMBOL_NAME)
            if end > name_off:
                names[slot] = strtab[name_off:end].decode("utf-8", "replace")
    return names


def plt_table(
    elf: ElfFile, resolve: Callable[[int], str | None] = lambda vaddr: None
) -> PltTable | None:
    """The PLT stubs of an x86-64 ELF file, or ``None`` if it has none we can name.

    ``resolve(vaddr)`` names an address (the binary's symbol table): it names the stubs of
    IFUNCs, whose relocations carry only the resolver's address. Raises ``ElfError`` for
    sections outside the file.
    """
    if elf.machine != EM_X86_64 or not elf.is64 or not elf.little_endian:
        return None
    plts = [elf.section(name) for name in _PLT_SECTIONS]
    plts = [s for s in plts if s is not None and s.size and s.type != 8]  # 8: SHT_NOBITS
    if not plts or elf.section(".dynsym") is None:
        return None
    jumps = []  # (stub start, stub end, GOT slot)
    got_slots = set()
    for section in plts:
        code = elf.read_section(section)
        stride = section.entsize if section.entsize in (8, 16) else 16
        for at in range(0, len(code) - stride + 1, stride):
            jump = code.find(_JMP_GOT, at, at + stride)
            if jump < 0 or jump + 6 > at + stride:
                continue
            (disp,) = struct.unpack_from("<i", code, jump + 2)
            start = section.addr + at
            # rip-relative: from the end of the 6-byte instruction
            slot = section.addr + jump + 6 + disp
            jumps.append((start, start + stride, slot))
            if section.name == ".plt.got":
                got_slots.add(slot)
    names = _name_slots(elf, {slot for _, _, slot in jumps}, got_slots, resolve)
    stubs = [(start, end, f"{names[slot]}@plt") for start, end, slot in jumps if slot in names]
    return PltTable(stubs) if stubs else None
