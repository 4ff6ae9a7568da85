"""Kernel symbols from ``/proc/kallsyms``: text symbols of the kernel and its modules, sorted."""

from __future__ import annotations

import bisect
import struct
from array import array

# Farther than this past the nearest symbol, an address is not taken to be in it: no kernel
# function is this large, and it keeps addresses past the last symbol from being misnamed.
MAX_SYMBOL_DISTANCE = 1 << 20

_TEXT_TYPES = frozenset("tTwW")


class KernelSymbols:
    """Sorted kernel text symbols (``t``/``T``/``w``/``W`` lines of ``/proc/kallsyms``).

    ``restricted`` is true when every address read as zero: ``kernel.kptr_restrict`` hides them
    from this process (run as root, or set ``kernel.kptr_restrict=0``); lookups then find nothing.
    """

    __slots__ = ("_modules", "_names", "_starts", "core_end", "restricted")

    def __init__(self, symbols: list[tuple[int, str, str]], restricted: bool = False) -> None:
        """``symbols``: ``(address, name, module)``; ``module`` is ``""`` for the kernel itself."""
        symbols = sorted(symbols)
        self._starts = array("Q", (s[0] for s in symbols))
        self._names = [s[1] for s in symbols]
        self._modules = [s[2] for s in symbols]
        self.restricted = restricted
        # Past this, addresses belong to modules or BPF programs, which come and go.
        self.core_end = max((s[0] for s in symbols if not s[2]), default=0) + MAX_SYMBOL_DISTANCE

    def __len__(self) -> int:
        return len(self._starts)

    @classmethod
    def parse(cls, text: str) -> KernelSymbols:
        """Parse the text of ``/proc/kallsyms``."""
        symbols = []
        seen_text = False
        for line in text.splitlines():
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
            return cls.parse(f.read())

    def lookup(self, address: int) -> tuple[str, int, str] | None:
        """``(name, symbol address, module)`` of the symbol containing ``address``, or ``None``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or address - self._starts[i] > MAX_SYMBOL_DISTANCE:
            return None
        return self._names[i], self._starts[i], self._modules[i]

    def address_of(self, name: str) -> int | None:
        """The address of the first symbol called ``name`` (linear: for tools and tests)."""
        try:
            return self._starts[self._names.index(name)]
        except ValueError:
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
