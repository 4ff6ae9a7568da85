"""Kernel symbols from ``/proc/kallsyms``: text symbols of the kernel and its modules, sorted."""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable
from itertools import pairwise

from ..elf.errors import ElfError
from ..elf.notes import gnu_build_id, parse_notes

# Farther than this past the nearest symbol, an address is not taken to be in it: no kernel
# function is this large, and it keeps addresses past the last symbol from being misnamed.
MAX_SYMBOL_DISTANCE = 1 << 20
MAX_NAME = 0xFFFF  # bytes of one symbol name (KSYM_NAME_LEN is 512); longer ones are cut

# "ffffffff81000000 T _stext" or "ffffffffc0a01000 t fn\t[module]": text symbols only.
# __pfx_ symbols only name the padding before a function (call-thunk alignment): skipped here.
_TEXT_LINE = re.compile(rb"^([0-9a-fA-F]+) [tTwW] (?!__pfx_)(\S+)(?:\t\[([^\]]+)\])?[ \t]*$", re.M)
_ANY_TEXT_LINE = re.compile(rb"^[0-9a-fA-F]+ [tTwW] ", re.M)


class _SymbolArrays:
    """Symbols gathered as the text is scanned: one bytes blob of names and arrays of starts,
    name offsets and lengths, and module ids (a tenth of the memory of lists of str or of tuples;
    no list of 65 000 tuples ever exists)."""

    def __init__(self) -> None:
        self.starts = array("Q")
        self.name_at = array("I")
        self.name_len = array("H")
        self.module_ids = array("H")
        self.blob = bytearray()
        self.modules: dict[str | bytes, int] = {}

    def add(self, symbols: Iterable[tuple[int, str | bytes, str | bytes]]) -> None:
        starts, name_at, name_len, module_ids = (
            self.starts,
            self.name_at,
            self.name_len,
            self.module_ids,
        )
        blob, modules = self.blob, self.modules
        for address, name, module in symbols:
            if not address:  # zero: hidden by kptr_restrict
                continue
            raw = (name.encode() if isinstance(name, str) else name)[:MAX_NAME]
            starts.append(address)
            name_at.append(len(blob))
            name_len.append(len(raw))
            blob += raw
            module_id = modules.get(module)
            if module_id is None:
                module_id = modules[module] = len(modules)
            module_ids.append(module_id)

    def sort(self) -> None:
        """By address. kallsyms is sorted but for a few entries at its end (BPF programs and
        trampolines): those are moved into place one by one; a text in another order is sorted
        whole."""
        starts = self.starts
        columns = (starts, self.name_at, self.name_len, self.module_ids)
        sorted_up_to = next(
            (i + 1 for i, (a, b) in enumerate(pairwise(starts)) if a > b), len(starts)
        )
        if sorted_up_to == len(starts):
            return
        if len(starts) - sorted_up_to > 4096:
            order = sorted(range(len(starts)), key=starts.__getitem__)
            for column in columns:
                column[:] = array(column.typecode, (column[i] for i in order))
            return
        tail = list(zip(*(column[sorted_up_to:] for column in columns), strict=True))
        for column in columns:
            del column[sorted_up_to:]
        for row in tail:
            at = bisect.bisect_right(starts, row[0])
            for column, value in zip(columns, row, strict=True):
                column.insert(at, value)


class KernelSymbols:
    """Sorted kernel text symbols (``t``/``T``/``w``/``W`` lines of ``/proc/kallsyms``).

    ``restricted`` is true when every address read as zero: ``kernel.kptr_restrict`` hides them
    from this process (run as root, or set ``kernel.kptr_restrict=0``); lookups then find nothing.
    """

    __slots__ = (
        "_module_ids",
        "_module_names",
        "_name_at",
        "_name_len",
        "_names",
        "_starts",
        "core_end",
        "restricted",
    )

    def __init__(
        self, symbols: Iterable[tuple[int, str | bytes, str | bytes]], restricted: bool = False
    ) -> None:
        """``symbols``: ``(address, name, module)``; ``module`` is empty for the kernel itself."""
        arrays = _SymbolArrays()
        arrays.add(symbols)
        self._take(arrays, restricted)

    def _take(self, arrays: _SymbolArrays, restricted: bool) -> None:
        arrays.sort()
        self._starts = arrays.starts
        self._name_at = arrays.name_at
        self._name_len = arrays.name_len
        self._module_ids = arrays.module_ids
        self._names = bytes(arrays.blob)
        self._module_names = [m.decode() if isinstance(m, bytes) else m for m in arrays.modules]
        self.restricted = restricted
        # Past this, addresses belong to modules or BPF programs, which come and go.
        kernel = arrays.modules.get(b"", arrays.modules.get(""))
        core = [a for a, m in zip(self._starts, self._module_ids, strict=True) if m == kernel]
        self.core_end = (max(core) if core else 0) + MAX_SYMBOL_DISTANCE

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str | bytes | Iterable[bytes]) -> KernelSymbols:
        """Parse ``/proc/kallsyms``: its text, or its bytes (whole or as chunks)."""
        if isinstance(text, str):
            text = text.encode()
        chunks = [text] if isinstance(text, bytes) else text
        arrays = _SymbolArrays()
        seen_text = False
        rest = b""
        for chunk in chunks:
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            seen_text = cls._scan(data[:cut], arrays) or seen_text
        if rest:
            seen_text = cls._scan(rest + b"\n", arrays) or seen_text
        symbols = cls.__new__(cls)
        symbols._take(arrays, restricted=seen_text and not arrays.starts)
        return symbols

    @staticmethod
    def _scan(data: bytes, arrays: _SymbolArrays) -> bool:
        """Add the text symbols of whole lines ``data``; True if any text line was seen."""
        # One C-speed regex pass over the text (~120 000 lines, half of them __pfx_).
        found = _TEXT_LINE.findall(data)
        arrays.add((int(addr, 16), name, module) for addr, name, module in found)
        return bool(found) or _ANY_TEXT_LINE.search(data) is not None

    @classmethod
    def load(cls, path: str = "/proc/kallsyms") -> KernelSymbols:
        """Read and parse ``path`` (in 1 MiB chunks: the whole text is ~10 MB)."""
        with open(path, "rb") as f:
            return cls.parse(iter(lambda: f.read(1 << 20), b""))

    def lookup(self, address: int) -> tuple[str, int, str] | None:
        """``(name, symbol address, module)`` of the symbol containing ``address``, or ``None``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or address - self._starts[i] > MAX_SYMBOL_DISTANCE:
            return None
        return self._name(i), self._starts[i], self._module_names[self._module_ids[i]]

    def _name(self, i: int) -> str:
        start = self._name_at[i]
        return self._names[start : start + self._name_len[i]].decode()

    def address_of(self, name: str) -> int | None:
        """The address of the first symbol called ``name`` (linear: for tools and tests)."""
        for i in range(len(self._starts)):
            if self._name(i) == name:
                return self._starts[i]
        return None


MAX_KERNEL_NOTES = 1 << 16  # /sys/kernel/notes is a few hundred bytes


def kernel_build_id(path: str = "/sys/kernel/notes") -> str:
    """The running kernel's GNU build id (hex) from its ELF notes, or ``""`` if unavailable.

    The notes are parsed by the ELF layer's note parser (native byte order, 4-byte aligned);
    unreadable or malformed notes give ``""``.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_KERNEL_NOTES)
        return gnu_build_id(parse_notes(raw, "="))
    except (OSError, ElfError):
        return ""
