"""Symbol demangling for the profiler: Itanium C++, Rust legacy and Rust v0, in pure Python.

``demangle(symbol)`` returns the readable name, or ``symbol`` unchanged when it is not mangled or
cannot be parsed; it never raises. One binary often mixes all three schemes (a Rust program links
C++ and its std is v0-mangled), so the scheme is detected per symbol:

- ``_R...``: Rust v0 (:mod:`.rust_v0`).
- ``_ZN...17h<hash>E``: Rust legacy (:mod:`.rust_legacy`), else Itanium C++.
- ``_Z...`` and ``_GLOBAL__I_...``: Itanium C++ (:mod:`.itanium`), as GNU ``c++filt`` prints it.

``keep_hash`` only affects Rust: by default the legacy ``::h<hash>`` and v0 crate disambiguators
are dropped (rustc-demangle's ``{:#}``, ``c++filt -i``), which keeps names stable across builds.
"""

from __future__ import annotations

from functools import lru_cache

from .itanium import demangle_itanium
from .rust_legacy import demangle_rust_legacy
from .rust_v0 import demangle_rust_v0

__all__ = [
    "clear_cache",
    "demangle",
    "demangle_itanium",
    "demangle_rust_legacy",
    "demangle_rust_v0",
]

# A few thousand distinct functions show up in a typical profile; 8 192 long C++ names and their
# demangled forms take about 5 MB, well inside the agent's memory budget.
CACHE_SIZE = 1 << 13


def demangle(symbol: str, keep_hash: bool = False) -> str:
    """The demangled form of ``symbol``, or ``symbol`` itself if it is not a mangled name.

    >>> demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE")
    'core::ptr::drop_in_place'
    """
    if not isinstance(symbol, str) or not symbol.startswith(("_Z", "_R", "_GLOBAL_")):
        return symbol
    return _demangle_cached(symbol, bool(keep_hash))


def clear_cache() -> None:
    """Forget every cached result (``demangle`` keeps the last 8 192 in memory)."""
    _demangle_cached.cache_clear()


@lru_cache(maxsize=CACHE_SIZE)
def _demangle_cached(symbol: str, keep_hash: bool) -> str:
    # A symbol version from the dynamic symbol table ("_ZTIi@@CXXABI_1.3") stays as it is.
    name, at, version = symbol.partition("@")
    result = _demangle_name(name, keep_hash)
    if result is None:
        return symbol
    return result + at + version


def _demangle_name(name: str, keep_hash: bool) -> str | None:
    try:
        if name.startswith("_R"):
            return demangle_rust_v0(name, keep_hash)
        if name.startswith("_ZN"):
            rust = demangle_rust_legacy(name, keep_hash)
            if rust is not None:
                return rust
        return demangle_itanium(name)
    except Exception:
        # The contract is "never raises": an unexpected bug leaves the name as it is.
        return None
