"""Symbolization: sampled addresses to frames (kernel via kallsyms; user via /proc/PID/maps, ELF
symbol tables, separate debug files, DWARF, the vdso and perf maps).

``Symbolizer`` is the entry point; the other modules are its parts and usable on their own.
"""

from .stats import SymbolizerStats
from .symbolizer import Symbolizer

__all__ = ["Symbolizer", "SymbolizerStats"]
