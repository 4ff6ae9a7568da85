"""Kernel symbols from ``/proc/kallsyms``: text symbols of the kernel and its modules, sorted."""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Iterable

# Farther than this past the nearest symbol, an address is not taken to be in it: no kernel
# function is this large, and it keeps addresses past the last symbol from being misnamed.
MAX_SYMBOL_DISTANCE = 1 << 20

_TEXT_TYPES = frozenset("tTwW")


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

    def __init__(self, symbols: list[tuple[int, str, str]], restricted: bool = False) -> None:
        """``symbols``: ``(address, name, module)``; ``module`` is ``""`` for the kernel itself."""
        symbols = sorted(symbols)
        self._starts = array("Q", (s[0] for s in symbols))
        # ~65 000 symbols: one bytes blob of names and arrays of ends and module ids take a tenth
        # of the memory of lists of str (names are decoded when looked up).
        blob = bytearray()
        ends = array("I")
        module_ids = array("H")
        modules: dict[str, int] = {}
        for _, name, module in symbols:
            blob += name.encode()
            ends.append(len(blob))
            module_ids.append(modules.setdefault(module, len(modules)))
        self._names = bytes(blob)
        self._name_ends = ends
        self._module_ids = module_ids
        self._module_names = list(modules)
        self.restricted = restricted
        # Past this, addresses belong to modules or BPF programs, which come and go.
        self.core_end = max((s[0] for s in symbols if not s[2]), default=0) + MAX_SYMBOL_DISTANCE

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> KernelSymbols:
        """Parse ``/proc/kallsyms`` (its text, or its lines as an iterable)."""
        symbols = []
        seen_text = False
        lines = text.splitlines() if isinstance(text, str) else text
        for line in lines:
            # "ffffffff81000000 T _stext": the type letter is at a fixed column; skip the ~2/3 of
            # lines that are data symbols before splitting.
            if len(line) < 20 or line[17] not in _TEXT_TYPES:
                continue
            parts = line.split()
            if len(parts) < 3 or parts[1] not in _TEXT_TYPES:
                continue
            seen_text = True
            address = int(parts[0], 16)
            name = parts[2]
            # __pfx_ symbols only name the padding before a function (call-thunk alignment).
            if address == 0 or name.startswith("__pfx_"):
                continue
            module = parts[3].strip("[]") if len(parts) > 3 else ""
            symbols.append((address, name, module))
        return cls(symbols, restricted=seen_text and not symbols)

    @classmethod
    def load(cls, path: str = "/proc/kallsyms") -> KernelSymbols:
        """Read and parse ``path``."""
        with open(path, encoding="utf-8", errors="replace") as f:
            return cls.parse(f)  # line by line: the whole text would be ~10 MB at once

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


def kernel_build_id(path: str = "/sys/kernel/notes") -> str:
    """The running kernel's GNU build id (hex) from its ELF notes, or ``""`` if unavailable."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return ""
    at = 0
    while at + 12 <= len(raw):
        namesz, descsz, n_type = struct.unpack_from("=III", raw, at)
        at += 12
        name = raw[at : at + namesz].rstrip(b"\0")
        at += (namesz + 3) & ~3
        desc = raw[at : at + descsz]
        at += (descsz + 3) & ~3
        if name == b"GNU" and n_type == 3 and desc:  # NT_GNU_BUILD_ID
            return desc.hex()
    return ""
