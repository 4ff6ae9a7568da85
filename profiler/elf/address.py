"""The address rule: which PT_LOAD segment a place in a mapped file belongs to.

The kernel maps each PT_LOAD segment from its file offset rounded down to a page, so a runtime
address ``addr`` in a mapping ``[start, end)`` of file offset ``off`` lies at file offset
``addr - start + off``, and the segment mapped there gives the ELF virtual address
``p_vaddr + (file_offset - p_offset)``. Linkers such as rust-lld and lld put code at a file
offset different from its address, and let one file page hold the end of one segment and the
start of the next: the page is then mapped twice, once per segment, with each segment's
permissions. So the segment is chosen by, in order:

1. the mapping's permission (an executable mapping maps the executable segment), when known;
2. whether the segment's file bytes hold the offset itself (not only its page);
3. executable segments first, then the lowest file offset.

Both the symbolizer (per address, ``AddressSpace`` in ``profiler.elf.file``) and the unwinder
(per mapping, ``vaddr_bias`` in ``profiler.unwind.elf_binary``) ask :func:`segment_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

PAGE_SIZE = 0x1000  # the kernel's mapping granularity on x86_64 and 4K-page arm64


class LoadSegmentLike(Protocol):
    """What the rule reads of a PT_LOAD segment."""

    @property
    def offset(self) -> int: ...
    @property
    def vaddr(self) -> int: ...
    @property
    def filesz(self) -> int: ...
    @property
    def executable(self) -> bool: ...


S = TypeVar("S", bound=LoadSegmentLike)


def segment_for(loads: Iterable[S], file_offset: int, executable: bool | None = None) -> S | None:
    """The PT_LOAD segment mapped at ``file_offset`` (see the module docstring), or ``None``.

    ``executable``: whether the mapping holding the place is executable (``None``: unknown).
    A segment is a candidate when ``file_offset`` lies in ``[p_offset rounded down to a page,
    p_offset + p_filesz)`` (instructions never live in a segment's ``.bss`` tail).
    """
    best = None
    best_key: tuple[bool, bool, bool, int] | None = None
    for seg in loads:
        start = seg.offset
        if not start & ~(PAGE_SIZE - 1) <= file_offset < start + max(seg.filesz, 1):
            continue
        key = (
            executable is None or seg.executable == executable,
            start <= file_offset,
            seg.executable,
            -start,
        )
        if best_key is None or key > best_key:
            best, best_key = seg, key
    return best


def vaddr_of(loads: Iterable[S], file_offset: int, executable: bool | None = None) -> int | None:
    """The ELF virtual address of ``file_offset`` (see :func:`segment_for`), or ``None``."""
    seg = segment_for(loads, file_offset, executable)
    return None if seg is None else seg.vaddr + (file_offset - seg.offset)


def file_offset_of(loads: Iterable[S], vaddr: int) -> int | None:
    """The file offset holding the byte at ELF virtual address ``vaddr`` (the inverse rule).

    The PT_LOAD whose ``[p_vaddr, p_vaddr + p_filesz)`` holds ``vaddr``; ``None`` if none does
    (an address in ``.bss`` or outside the file has no bytes in it).
    """
    for seg in loads:
        if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            return vaddr - seg.vaddr + seg.offset
    return None
