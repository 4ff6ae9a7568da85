"""The one error of the DWARF readers, and the one place pyelftools' exceptions become it.

The DWARF readers (``dwarf``, ``dwarf_units``, ``dwarf_dies``, ``dwarf_lines``) raise
:class:`DwarfError` for malformed, truncated or oversized debug information, whoever noticed:
our own decoders (an index past the end of a section, a ``struct`` unpack short of bytes, a
LEB128 longer than 10 bytes) or pyelftools, which still parses unit headers, address ranges and
the reference walk, and which signals bad input with many exception types. :data:`CONVERTED`
lists every one of them; :func:`dwarf_error` wraps one. Readers catch exactly
``CONVERTED`` at their public boundary (after letting ``DwarfError`` through unchanged), so no
broad ``except Exception`` is needed anywhere above them.
"""

from __future__ import annotations

import struct

from elftools.common.exceptions import DWARFError, ELFError
from elftools.construct.core import ConstructError

from ..elf.errors import FormatError, Leb128Error


class DwarfError(FormatError):
    """A binary's DWARF is malformed, truncated, or exceeds a reader's limits."""


# Bad bytes, as our decoders and pyelftools report them (each seen in the fuzz tests, except
# where noted): pyelftools' own exception classes (its construct library's ConstructError covers
# FieldError, ArrayError, SwitchError...), Python's for bytes that end early or hold nonsense
# (KeyError: an unknown abbreviation code or enum value; TypeError and AttributeError: a field
# pyelftools expected and found as None; ZeroDivisionError: a zero address size or line range;
# NotImplementedError: segmented addresses in .debug_aranges; AssertionError: pyelftools'
# internal consistency checks), and our own LEB128 limit.
CONVERTED: tuple[type[BaseException], ...] = (
    ELFError,
    DWARFError,
    ConstructError,
    Leb128Error,
    struct.error,
    IndexError,
    KeyError,
    ValueError,  # includes UnicodeDecodeError
    TypeError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
    NotImplementedError,
    AssertionError,
)


def dwarf_error(what: str, error: BaseException) -> DwarfError:
    """A :class:`DwarfError` saying ``what`` failed and how (``error``'s type and message)."""
    detail = str(error) or "no detail"
    return DwarfError(f"{what}: {type(error).__name__}: {detail}"[:500])
