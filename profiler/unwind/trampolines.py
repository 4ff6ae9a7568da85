"""Unwind rows for CPython's perf trampolines (``python -X perf``, 3.12+), which have no CFI.

With ``-X perf`` each Python function gets a copy of a tiny trampoline in an anonymous
executable mapping, named in ``/tmp/perf-PID.map``; it calls the interpreter loop. On x86_64 the
template is ``sub $8,%rsp; call *%rcx; add $8,%rsp; ret`` (11 bytes, no frame pointer), so
neither frame pointers nor CFI unwind through it and the stack ends there. The copies sit back
to back from the mapping's start, so a pc's place in its copy gives the stack pointer's offset
from the return address: after the ``call`` (where every caller's pc is) the CFA is ``sp + 16``.

A mapping is taken for a trampoline arena only when its first bytes are the template (read once
per mapping and snapshot, through the process layer's ``process_vm_readv``).
"""

from __future__ import annotations

from ..process.syscalls import calls
from .cfi import CFA_REG, R_OFFSET, R_SAME
from .table import REG_SP, Row

TEMPLATE_X86_64 = bytes.fromhex("4883ec08ffd14883c408c3")
# CFA = sp + k per instruction of the copy: before the sub, after it (and after the call), after
# the add (at the ret).
_CFA_AT = {0: 8, 4: 16, 6: 16, 10: 8}


def _row(cfa: int) -> Row:
    """CFA = sp + ``cfa``, the return address just below it, the frame pointer untouched."""
    return (CFA_REG, REG_SP, cfa, R_OFFSET, -8, R_SAME, 0, 0, 0)


class TrampolineTable:
    """A table for one trampoline arena: ``lookup`` by runtime address (bias 0)."""

    segments: tuple = ()

    def __init__(self, start: int, stride: int) -> None:
        self.start = start
        self.stride = stride  # bytes from one copy to the next (the template, maybe aligned)

    def lookup(self, vaddr: int) -> Row:
        """The row at ``vaddr`` in its copy of the template."""
        at = (vaddr - self.start) % self.stride
        cfa = 8
        for offset, value in sorted(_CFA_AT.items()):
            if at >= offset:
                cfa = value
        return _row(cfa)


def trampoline_table(
    pid: int | None, start: int, machine: str = "x86_64"
) -> TrampolineTable | None:
    """The table of the anonymous executable mapping at ``start`` of process ``pid``, if it
    holds CPython perf trampolines (``None``: it does not, or it cannot be read)."""
    if machine != "x86_64" or pid is None:
        return None
    size = len(TEMPLATE_X86_64)
    try:
        head = calls().process_vm_readv(pid, start, 2 * 32)
    except OSError:
        return None
    if head[:size] != TEMPLATE_X86_64:
        return None
    for stride in (size, 12, 16, 32):  # copies packed, or aligned
        if head[stride : stride + size] == TEMPLATE_X86_64:
            return TrampolineTable(start, stride)
    return None
