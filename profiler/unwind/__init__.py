"""Complete user stacks without frame pointers: DWARF CFI unwind tables and an unwinder.

``cfi`` parses ``.eh_frame``/``.debug_frame``; ``table`` compacts the rows of one binary
(cached by build id in ``cache``); ``unwinder`` walks a copied user stack with them. Names are
imported on first use (the tables' parsers are not needed before a DWARF sample arrives).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .arch import AARCH64, X86_64, Arch, host_arch
    from .cache import TableCache
    from .lazy_table import LazyUnwindTable
    from .table import UnwindTable, build_table, build_table_for_file
    from .unwinder import CLEAN_ENDS, Unwinder, UnwindResult, unwind

_WHERE = {
    "AARCH64": "arch",
    "X86_64": "arch",
    "Arch": "arch",
    "host_arch": "arch",
    "TableCache": "cache",
    "LazyUnwindTable": "lazy_table",
    "UnwindTable": "table",
    "build_table": "table",
    "build_table_for_file": "table",
    "CLEAN_ENDS": "unwinder",
    "Unwinder": "unwinder",
    "UnwindResult": "unwinder",
    "unwind": "unwinder",
}

__all__ = [
    "AARCH64",
    "CLEAN_ENDS",
    "X86_64",
    "Arch",
    "LazyUnwindTable",
    "TableCache",
    "UnwindResult",
    "UnwindTable",
    "Unwinder",
    "build_table",
    "build_table_for_file",
    "host_arch",
    "unwind",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'profiler.unwind' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
