"""Per-CPU statistics counters for BPF programs: ``stats[slot] += 1`` in a PERCPU_ARRAY.

The profiler's programs count what they could not do (collisions, full maps, lost links) rather
than fail silently; each counter is a slot of a per-CPU array, so no atomic is needed.
"""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, R2, R10, Assembler, W


def emit_count_stat(a: Assembler, stats: object, slot: int, scratch: int) -> None:
    """Emit ``stats[slot] += 1``. Clobbers r0-r5 and the 4-byte stack slot ``r10 + scratch``."""
    a.st(W, R10, scratch, slot, comment=f"stat slot {slot}")
    a.ld_map_fd(R1, stats)
    a.mov(R2, R10)
    a.add(R2, scratch)
    a.call("map_lookup_elem")
    done = f"stat_done_{len(a)}"
    a.jeq(R0, 0, done)
    a.ldx(DW, R1, R0, 0)
    a.add(R1, 1)
    a.stx(DW, R0, 0, R1)
    a.label(done)
