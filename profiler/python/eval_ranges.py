"""Where the bytecode loop's machine code is: ``_PyEval_EvalFrameDefault`` and its cold parts.

Merging Python frames into a native stack needs to recognise the native frames of the
interpreter loop. Its symbol covers only the part the compiler kept hot; GCC moves the rest to a
``_PyEval_EvalFrameDefault.cold`` part that a stripped binary names nowhere (Debian's 3.14 runs
most bytecodes there: the named part is 1 KiB). The cold part has its own FDE in
``.eh_frame`` and the hot part jumps into it, so: scan the hot part for ``jcc rel32``/``jmp rel32``
targets, and take each FDE of ``.eh_frame_hdr``'s table that such targets land in (at least
twice: a lone match may be two bytes that only look like a jump) and that starts no named
function. x86_64 only; elsewhere the named range alone is used.

The file is the target's: :func:`eval_ranges` raises what the ELF reader and the search table's
reader raise (``FormatError``s), and reads at most :data:`MAX_HOT_BYTES` of code.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence

from ..elf.address import file_offset_of
from ..elf.file import ElfFile

MAX_HOT_BYTES = 1 << 20
MIN_JUMPS = 2
EM_X86_64 = 62


def _jump_targets(code: bytes, base: int) -> Counter[int]:
    """Targets of ``0f 8x rel32`` and ``e9 rel32`` byte patterns in ``code`` at vaddr ``base``."""
    targets: Counter[int] = Counter()
    n = len(code)
    for i in range(n - 5):
        if code[i] == 0x0F and 0x80 <= code[i + 1] <= 0x8F and i + 6 <= n:
            rel = struct.unpack_from("<i", code, i + 2)[0]
            targets[base + i + 6 + rel] += 1
        elif code[i] == 0xE9:
            rel = struct.unpack_from("<i", code, i + 1)[0]
            targets[base + i + 5 + rel] += 1
    return targets


def eval_ranges(
    elf: ElfFile, start: int, size: int, function_starts: Sequence[int]
) -> list[tuple[int, int]]:
    """``[start, end)`` ELF vaddr ranges of the loop: the named part, then any cold parts.

    ``function_starts``: sorted start addresses of the file's named functions. Raises a
    ``FormatError`` (``ElfError``, ``CfiError``) where the file's bytes are not there or wrong.
    """
    ranges = [(start, start + size)]
    if elf.machine != EM_X86_64 or not 0 < size <= MAX_HOT_BYTES:
        return ranges
    hdr = elf.section(".eh_frame_hdr")
    at = file_offset_of(elf.load_segments(), start)
    if hdr is None or at is None:
        return ranges
    # The search table's reader of the unwinder (an import the session has paid for unless
    # it unwinds by frame pointers only).
    from ..unwind.cfi import parse_eh_frame_hdr

    table = parse_eh_frame_hdr(elf.read_section(hdr), hdr.addr)
    if table is None or not table[1]:
        return ranges
    starts = table[1]
    per_fde: Counter[int] = Counter()
    for target, count in _jump_targets(elf.read(at, size), start).items():
        if start <= target < start + size:
            continue
        i = bisect_right(starts, target) - 1
        if 0 <= i < len(starts) - 1:
            per_fde[i] += count
    for i, jumps in sorted(per_fde.items()):
        if jumps < MIN_JUMPS:
            continue
        lo, hi = starts[i], starts[i + 1]
        j = bisect_right(function_starts, lo - 1)
        if j < len(function_starts) and function_starts[j] < hi:
            continue  # a named function starts in it: not an anonymous cold part
        ranges.append((lo, hi))
    return ranges
