"""Small BPF programs the event tests load (built with the DSL)."""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, R2, R3, R4, R5, R6, R10, Assembler

#: The 32 bytes after the sequence number in every emitted record: four u64 stores of this
#: (sign-extended 32-bit) immediate, as ``st`` writes them.
PATTERN_WORD = 0x5A17C0DE
PATTERN = PATTERN_WORD.to_bytes(8, "little") * 4
#: Records carry 8 + (seq % 32) bytes when their size varies, else 40.
MAX_RECORD = 40
BPF_F_CURRENT_CPU = 0xFFFFFFFF


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


def expected_record(seq: int, vary_size: bool) -> bytes:
    """What :func:`emit_records` sends for sequence number ``seq``."""
    size = 8 + (seq & 31) if vary_size else MAX_RECORD
    return (seq.to_bytes(8, "little") + PATTERN)[:size]


def emit_records(
    sink: object, counter: object, *, helper: str = "perf_event_output", vary_size: bool = True
) -> Assembler:
    """A socket-filter-style program that sends one record per run to ``sink``.

    The record is ``u64 seq`` (``counter[0]``, fetched and incremented atomically) followed by
    :data:`PATTERN`, cut to ``8 + seq % 32`` bytes when ``vary_size`` (odd sizes exercise the
    kernel's padding and records that wrap around the ring's end), else 40 bytes.
    ``helper`` is ``perf_event_output`` (to a PERF_EVENT_ARRAY, on the current CPU) or
    ``ringbuf_output`` (to a RINGBUF).
    """
    a = Assembler()
    a.mov(R6, R1, comment="save ctx (the skb)")
    a.zero_stack(-8, 8, comment="key = 0")
    a.lookup_or_jump(counter, -8, "out")
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1, fetch=True, comment="r1 = seq++")
    a.stx(DW, R10, -48, R1, comment="record[0:8] = seq")
    for off in (-40, -32, -24, -16):
        a.st(DW, R10, off, PATTERN_WORD)
    if vary_size:
        a.mov(R5, R1).and_(R5, 31).add(R5, 8, comment="size = 8 + seq % 32")
    else:
        a.mov(R5, MAX_RECORD)
    if helper == "perf_event_output":
        a.mov(R1, R6)
        a.ld_map_fd(R2, sink)
        a.mov32(R3, -1, comment="BPF_F_CURRENT_CPU (upper 32 bits: no skb bytes)")
        a.stack_pointer(R4, -48)
        a.call("perf_event_output")
    elif helper == "ringbuf_output":
        a.mov(R3, R5, comment="size")
        a.ld_map_fd(R1, sink)
        a.stack_pointer(R2, -48)
        a.mov(R4, 0, comment="flags: wake the reader")
        a.call("ringbuf_output")
    else:
        raise ValueError(helper)
    a.label("out")
    a.ret(0)
    return a


def reserve_and_discard_odd(sink: object, counter: object) -> Assembler:
    """Reserve 16 bytes in a RINGBUF per run: submit ``seq`` when even, discard it when odd."""
    a = Assembler()
    a.zero_stack(-8, 8, comment="key = 0")
    a.lookup_or_jump(counter, -8, "out")
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1, fetch=True, comment="r1 = seq++")
    a.mov(R6, R1)
    a.ld_map_fd(R1, sink)
    a.mov(R2, 16)
    a.mov(R3, 0)
    a.call("ringbuf_reserve")
    a.jeq(R0, 0, "out")
    a.stx(DW, R0, 0, R6, comment="record[0:8] = seq")
    a.st(DW, R0, 8, PATTERN_WORD)
    a.mov(R1, R0)
    a.mov(R2, 0)
    a.mov(R3, R6).and_(R3, 1)
    a.jne(R3, 0, "discard")
    a.call("ringbuf_submit")
    a.ja("out")
    a.label("discard")
    a.call("ringbuf_discard")
    a.label("out")
    a.ret(0)
    return a
