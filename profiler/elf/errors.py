"""The errors our readers of target-controlled bytes raise: one base, one subclass per reader.

Every reader of bytes a profiled process controls (its executables, libraries, debug files,
perf maps, memory) raises exactly one documented error type, and each of those is a
:class:`FormatError`. So the symbolizer and the unwinder catch ``(OSError, FormatError)`` at
their boundary and nothing broader: one bad binary costs its own frames, never the run.

The reader-specific subclasses live next to their readers: :class:`ElfError` here (headers,
sections, notes, symbol tables, PLT, MiniDebugInfo, the vdso image), ``CfiError`` in
``profiler.unwind.cfi``, ``DwarfError`` in ``profiler.symbolize.dwarf_errors``, ``PclntabError``
in ``profiler.symbolize.go_pclntab``, ``PerfMapError`` in ``profiler.symbolize.perf_map``, and
the readers of a CPython process's memory in ``profiler.python.errors``.
"""

from __future__ import annotations


class FormatError(ValueError):
    """Bytes from a profiled target are malformed, truncated, or exceed a reader's limits."""


class ElfError(FormatError):
    """An ELF file (or image) is malformed, truncated, not a regular file, or unsupported."""


class NotElfError(ElfError):
    """The bytes are not an ELF file (or are truncated before its headers)."""


class Leb128Error(FormatError):
    """A LEB128 number is longer than any 64-bit value needs (10 bytes)."""
