"""Test helpers: load register + stack snapshots taken by the workloads, and name addresses.

The names come from our own ``.symtab``/``.dynsym`` lookup (independent of the symbolizer being
built in parallel, and of the unwinder's own address translation).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from elftools.elf.elffile import ELFFile

from profiler.process.maps import ProcessMaps


@dataclass(frozen=True)
class Snapshot:
    """Registers, the stack copy from rsp upward, and the process's mappings at that moment."""

    regs: tuple[int, int, int]
    stack: bytes
    maps_text: str

    @property
    def mappings(self) -> ProcessMaps:
        return ProcessMaps.from_text(self.maps_text)


def load_snapshot(directory: Path, name: str) -> Snapshot:
    """Read ``name.snap`` (u64 rip, rsp, rbp, length + stack bytes) and ``name.maps``."""
    raw = (directory / f"{name}.snap").read_bytes()
    rip, rsp, rbp, length = struct.unpack_from("<4Q", raw)
    stack = raw[32 : 32 + length]
    assert len(stack) == length
    return Snapshot((rip, rsp, rbp), stack, (directory / f"{name}.maps").read_text())


class SymbolTable:
    """FUNC symbols of one ELF file by vaddr (``.symtab`` if present, else ``.dynsym``)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            self.loads = [
                (s["p_offset"], s["p_vaddr"], s["p_filesz"])
                for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"
            ]
            syms: dict[int, tuple[int, str]] = {}
            for secname in (".dynsym", ".symtab"):
                sec = elf.get_section_by_name(secname)
                if sec is None:
                    continue
                for sym in sec.iter_symbols():
                    if sym["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and sym["st_value"]:
                        name = sym.name.split("@")[0]
                        old = syms.get(sym["st_value"])
                        # Prefer the local .symtab name (the real function) over aliases.
                        if old is None or secname == ".symtab" or old[1].startswith("__GI_"):
                            syms[sym["st_value"]] = (sym["st_size"], name)
        self.starts = sorted(syms)
        self.syms = syms

    def name(self, vaddr: int) -> str | None:
        i = bisect_right(self.starts, vaddr) - 1
        if i < 0:
            return None
        start = self.starts[i]
        size, name = self.syms[start]
        if vaddr < start + max(size, 1):
            return name
        return None


@lru_cache(maxsize=16)
def symbol_table(path: str) -> SymbolTable:
    """A :class:`SymbolTable`, parsed once per path per test session."""
    return SymbolTable(path)


class Naming:
    """Runtime address -> function name through the mappings of one snapshot."""

    def __init__(self, mappings: ProcessMaps) -> None:
        self.mappings = mappings

    def name(self, addr: int, adjust: int = 1) -> str:
        m = self.mappings.find(addr - adjust)
        if m is None:
            return f"?{addr:#x}"
        if not m.path.startswith("/"):
            return f"{m.path or 'anon'}+{addr - m.start:#x}"
        table = symbol_table(m.path)
        file_off = addr - adjust - m.start + m.offset
        for p_offset, p_vaddr, p_filesz in table.loads:
            if p_offset <= file_off < p_offset + p_filesz:
                found = table.name(p_vaddr + file_off - p_offset)
                return found if found else f"{Path(m.path).name}+{file_off:#x}"
        return f"{Path(m.path).name}?{file_off:#x}"

    def names(self, addrs: tuple[int, ...], signal_after: set[int] = frozenset()) -> list[str]:
        """Names of a leaf-first stack (the leaf's pc is exact, return addresses are not)."""
        return [self.name(a, 0 if i == 0 or i in signal_after else 1) for i, a in enumerate(addrs)]
