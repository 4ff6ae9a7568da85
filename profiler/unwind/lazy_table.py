"""Unwind tables built one function at a time, through ``.eh_frame_hdr``'s search table.

Building the whole table of a 100 MB library (libLLVM: 98 000 FDEs) takes seconds of Python;
a profiler only ever needs the functions its samples land in. ``.eh_frame_hdr`` (written by
every modern linker for ``PT_GNU_EH_FRAME``) holds a sorted table of function start -> FDE, so
a lookup binary-searches it, parses that one FDE and caches its rows.
:meth:`LazyUnwindTable.materialize` gives the full :class:`UnwindTable` (e.g. for BPF maps).

Parsing happens during unwinding, so a lookup never raises: an FDE that the search table points
at but that is malformed (a ``CfiError``) gives "no information" for its function, is counted in
``bad_fdes``, and the unwinder falls back to frame pointers there. The bytes parsed are bounded
too: a search table whose entries point into each other's FDEs cannot make ``.eh_frame`` be
parsed more than a few times over (past that, lookups give "no information").
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import replace
from itertools import pairwise

from .arch import Arch
from .cfi import CfiError, Cie, parse_eh_frame_hdr, parse_entry_at
from .elf_binary import ElfUnwindInfo, LoadSegment
from .table import NO_INFO, Row, UnwindTable, build_table, rows_of_fde


class LazyUnwindTable:
    """Same ``lookup`` as :class:`UnwindTable`, parsing each FDE on its first use."""

    __slots__ = (
        "_bytes_left",
        "_cies",
        "_eh_addr",
        "_eh_data",
        "_fde_addrs",
        "_fdes",
        "_info",
        "_interned",
        "_starts",
        "arch",
        "bad_fdes",
        "build_id",
        "fde_count",
        "fdes_parsed",
        "segments",
    )

    def __init__(self, info: ElfUnwindInfo, starts: array, fde_addrs: array) -> None:
        eh = next(s for s in info.cfi if s.name == ".eh_frame")
        self._info = replace(info, eh_frame_hdr=None)  # its table now lives in the arrays
        self._eh_addr = eh.addr
        self._eh_data = eh.data
        self._starts = starts
        self._fde_addrs = fde_addrs
        self._cies: dict[int, Cie] = {}
        self._fdes: dict[int, tuple[int, list[int], list[Row]]] = {}
        self._interned: dict[Row, Row] = {NO_INFO: NO_INFO}
        self.build_id: str = info.build_id
        self.arch: Arch = info.arch
        self.segments: tuple[LoadSegment, ...] = info.segments
        self.fde_count = len(starts)
        self.fdes_parsed = 0
        self.bad_fdes = 0  # FDEs found malformed on their first lookup
        self._bytes_left = (1 << 20) + 4 * len(eh.data)

    @classmethod
    def from_info(cls, info: ElfUnwindInfo) -> LazyUnwindTable | None:
        """A lazy table when the file has a usable ``.eh_frame_hdr`` (and no ``.debug_frame``
        to merge), else None. Raises ``CfiError`` for a malformed ``.eh_frame_hdr``."""
        if info.eh_frame_hdr is None or [s.name for s in info.cfi] != [".eh_frame"]:
            return None
        parsed = parse_eh_frame_hdr(info.eh_frame_hdr.data, info.eh_frame_hdr.addr)
        if parsed is None or parsed[0] != info.cfi[0].addr:
            return None
        _, starts, fde_addrs = parsed
        if any(a > b for a, b in pairwise(starts)):
            return None  # an unsorted table: do not trust it
        return cls(info, starts, fde_addrs)

    def lookup(self, vaddr: int) -> Row:
        """The row that covers ``vaddr`` (:data:`NO_INFO` when no FDE does)."""
        i = bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return NO_INFO
        entry = self._fdes.get(i)
        if entry is None:
            entry = self._load(i)
        pc_end, pcs, rows = entry
        if vaddr >= pc_end:
            return NO_INFO
        return rows[bisect_right(pcs, vaddr) - 1]

    def function_rows(self, i: int) -> list[Row]:
        """The rows of the ``i``-th function (FDE) of the search table, parsed if need be."""
        entry = self._fdes.get(i)
        if entry is None:
            entry = self._load(i)
        return entry[2]

    def _load(self, i: int) -> tuple[int, list[int], list[Row]]:
        no_info: tuple[int, list[int], list[Row]] = (0, [], [])
        offset = self._fde_addrs[i] - self._eh_addr
        try:
            if self._bytes_left < 0:
                raise CfiError("the FDEs of the search table overlap: parsed enough")
            fde, end = parse_entry_at(
                self._eh_data, offset, self._eh_addr, True, self._cies, self.arch.ptr_size
            )
            self._bytes_left -= max(end - offset, 4)  # end is -1 at the terminator
            if fde is None or fde.pc_begin != self._starts[i]:
                entry = no_info  # the search table points at something else: no info
            else:
                pcs, rows = rows_of_fde(fde, self.arch, self._interned)
                entry = (fde.pc_end, pcs, rows) if pcs else no_info
        except CfiError:
            self.bad_fdes += 1
            entry = no_info
        self._fdes[i] = entry
        self.fdes_parsed += 1
        return entry

    def materialize(self) -> UnwindTable:
        """The complete table of the binary (parses every FDE; ``CfiError`` if one is bad)."""
        return build_table(self._info)
