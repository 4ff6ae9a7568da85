"""Does a binary keep frame pointers? Read from its unwind table, to choose how to unwind it.

Code built with frame pointers defines the CFA from the frame pointer once its prologue has run
(``DW_CFA_def_cfa_register rbp`` on x86_64, x29 on arm64); code built without them defines it
from the stack pointer throughout. So the share of functions with a frame-pointer-based row
tells the two apart, without disassembling anything.
"""

from __future__ import annotations

from .lazy_table import LazyUnwindTable
from .table import CFA_NONE, REG_FP, UnwindTable

SAMPLE_FUNCTIONS = 64  # functions looked at in a lazy table (spread over the binary)
THRESHOLD = 0.5  # share of functions with a frame-pointer CFA above which we trust fp unwinding


def frame_pointer_share(table: UnwindTable | LazyUnwindTable) -> float | None:
    """The share of functions (or rows, for a whole table) whose CFA is frame-pointer based;
    None when the table has nothing to judge by."""
    if isinstance(table, LazyUnwindTable):
        n = table.fde_count
        if n == 0:
            return None
        picks = sorted({i * n // min(n, SAMPLE_FUNCTIONS) for i in range(min(n, SAMPLE_FUNCTIONS))})
        judged = with_fp = 0
        for i in picks:
            rows = [r for r in table.function_rows(i) if r[0] != CFA_NONE]
            if len(rows) < 2:
                continue  # a stub or a leaf without a prologue says nothing either way
            judged += 1
            with_fp += any(r[1] == REG_FP for r in rows)
        return with_fp / judged if judged else None
    rows = [r for r in table.rows if r[0] != CFA_NONE]
    if not rows:
        return None
    # Per row, a function with frame pointers has about a third of its rows fp-based.
    return min(1.0, 3 * sum(1 for r in rows if r[1] == REG_FP) / len(rows))


def has_frame_pointers(table: UnwindTable | LazyUnwindTable | None) -> bool | None:
    """True/False when the table tells; None when it cannot (no table, nothing to judge)."""
    if table is None:
        return None
    share = frame_pointer_share(table)
    return None if share is None else share >= THRESHOLD
