"""Small BPF programs the event tests load (built with the DSL)."""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, Assembler


def count_into(counts: object) -> Assembler:
    """``counts[0] += 1`` (atomically) and return 0: attached to anything, it counts runs."""
    a = Assembler()
    a.zero_stack(-8, 8, comment="key = 0")
    a.lookup_or_jump(counts, -8, "out")
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1, comment="++counts[0]")
    a.label("out")
    a.ret(0)
    return a
