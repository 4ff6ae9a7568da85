"""Ring buffer wake-ups in batches: the reader sleeps until the ring is half full.

A program that submitted each record with a wake-up would wake the reader thousands of times a
second; one that never woke it would make it poll on a timer, awake when nothing happens. So the
programs submit quietly (``BPF_RB_NO_WAKEUP``) until the data waiting passes a threshold, and
then wake the reader (``BPF_RB_FORCE_WAKEUP``). The drain reads whatever is left each interval.
"""

from __future__ import annotations

from pybpf.asm import R0, R1, R2, Assembler, Register

BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA = 0  # bpf_ringbuf_query: bytes submitted and not yet consumed


def wakeup_threshold(ring_size: int) -> int:
    """Bytes waiting that make the next record wake the reader: half the ring."""
    return ring_size // 2


def emit_wakeup_flags(a: Assembler, ring: object, ring_size: int, dst: Register) -> None:
    """Emit ``dst = avail(ring) >= threshold ? FORCE_WAKEUP : NO_WAKEUP`` (clobbers r0-r5)."""
    done = f"wakeup_flags_{len(a)}"
    a.ld_map_fd(R1, ring)
    a.mov(R2, BPF_RB_AVAIL_DATA)
    a.call("ringbuf_query")
    a.mov(dst, BPF_RB_NO_WAKEUP, comment="submit quietly...")
    a.jlt(R0, wakeup_threshold(ring_size), done)
    a.mov(dst, BPF_RB_FORCE_WAKEUP, comment="...unless the ring is half full: wake the reader")
    a.label(done)
