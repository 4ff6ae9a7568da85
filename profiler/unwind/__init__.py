"""Complete user stacks without frame pointers: DWARF CFI unwind tables and an unwinder.

``cfi`` parses ``.eh_frame``/``.debug_frame``; ``table`` compacts the rows of one binary
(cached by build id in ``cache``); ``unwinder`` walks a copied user stack with them.
"""

from .arch import AARCH64, X86_64, Arch, host_arch
from .cache import TableCache
from .lazy_table import LazyUnwindTable
from .table import UnwindTable, build_table, build_table_for_file
from .unwinder import CLEAN_ENDS, Unwinder, UnwindResult, unwind

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
