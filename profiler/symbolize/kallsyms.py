"""Kernel symbols from ``/proc/kallsyms``: text symbols of the kernel and its modules, sorted."""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable

from ..elf.errors import ElfError
from ..elf.notes import gnu_build_id, parse_notes

# Farther than this past the nearest symbol, an address is not taken to be in it: no kernel
# function is this large, and it keeps addresses past the last symbol from being misnamed.
MAX_SYMBOL_DISTANCE = 1 << 20

# "ffffffff81000000 T _stext" or "ffffffffc0a01000 t fn\t[module]": text symbols only.
# __pfx_ symbols only name the padding before a function (call-thunk alignment): skipped here.
_TEXT_LINE = re.compile(rb"^([0-9a-fA-F]+) [tTwW] (?!__pfx_)(\S+)(?:\t\[([^\]]+)\])?[ \t]*$", re.M)
_ANY_TEXT_LINE = re.compile(rb"^[0-9a-fA-F]+ [tTwW] ", re.M)


class KernelSymbols:
    """Sorted kernel text symbols (``t``/``T``/``w``/``W`` lines of ``/proc/kallsyms``).

    ``restricted`` is true when every address read as zero: ``kernel.kptr_restrict`` hides them
    from this process (run as root, or set ``kernel.kptr_restrict=0``); lookups then find nothing.
    """

    __slots__ = (
        "_module_ids",
        "_module_names",
        "_name_ends",
        "_names",
        "_starts",
        "core_end",
        "restricted",
    )

    def __init__(
        self, symbols: list[tuple[int, str | bytes, str | bytes]], restricted: bool = False
    ) -> None:
        """``symbols``: ``(address, name, module)``; ``module`` is empty for the kernel itself."""
        symbols.sort(key=lambda sym: sym[0])  # kallsyms is nearly sorted: cheap
        self._starts = array("Q", (s[0] for s in symbols))
        # ~65 000 symbols: one bytes blob of names and arrays of ends and module ids take a tenth
        # of the memory of lists of str (names are decoded when looked up).
        blob = bytearray()
        ends = array("I")
        module_ids = array("H")
        modules: dict[str, int] = {}
        for _, name, module in symbols:
            blob += name.encode() if isinstance(name, str) else name
            ends.append(len(blob))
            module_ids.append(modules.setdefault(module, len(modules)))
        self._names = bytes(blob)
        self._name_ends = ends
        self._module_ids = module_ids
        self._module_names = [m.decode() if isinstance(m, bytes) else m for m in modules]
        self.restricted = restricted
        # Past this, addresses belong to modules or BPF programs, which come and go.
        self.core_end = max((s[0] for s in symbols if not s[2]), default=0) + MAX_SYMBOL_DISTANCE

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str | bytes | Iterable[bytes]) -> KernelSymbols:
        """Parse ``/proc/kallsyms``: its text, or its bytes (whole or as chunks)."""
        if isinstance(text, str):
            text = text.encode()
        chunks = [text] if isinstance(text, bytes) else text
        symbols: list[tuple[int, bytes, bytes]] = []
        seen_text = False
        rest = b""
        for chunk in chunks:
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            seen_text = cls._scan(data[:cut], symbols) or seen_text
        if rest:
            seen_text = cls._scan(rest + b"\n", symbols) or seen_text
        symbols = [sym for sym in symbols if sym[0]]  # zero: hidden by kptr_restrict
        return cls(symbols, restricted=seen_text and not symbols)

    @staticmethod
    def _scan(data: bytes, out: list[tuple[int, bytes, bytes]]) -> bool:
        """Append the text symbols of whole lines ``data``; True if any text line was seen."""
        # One C-speed regex pass over the text (~120 000 lines, half of them __pfx_).
        found = _TEXT_LINE.findall(data)
        out.extend((int(addr, 16), name, module) for addr, name, module in found)
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
        start = self._name_ends[i - 1] if i else 0
        return self._names[start : self._name_ends[i]].decode()

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
