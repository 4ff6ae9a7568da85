"""The real kernel as the oracle: it verifies, decodes and runs what the DSL builds.

- The verifier log (level 2) prints every instruction in the kernel's own notation; our listing
  must print the same text for each slot. This covers what capstone 5 cannot decode (JMP32,
  bswap, sign-extending loads, sdiv/smod, movsx, the atomic operation kinds, gotol).
- A socket filter that uses every instruction class runs with ``BPF_PROG_TEST_RUN`` and writes
  its results into an array map; Python computes the same values independently.
"""

from __future__ import annotations

import re
import struct

import pytest

from pybpf.asm import (
    DW,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R9,
    R10,
    Assembler,
    B,
    H,
    W,
)

pytestmark = pytest.mark.bpf

MASK64 = 2**64 - 1
MASK32 = 2**32 - 1
ALU = ["add", "sub", "mul", "div", "mod", "or_", "and_", "lsh", "rsh", "arsh", "xor", "mov"]
JUMPS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"]
# "  12: ..23...... (0f) r2 += r3" (6.x "Live regs" block) or "12: (0f) r2 += r3 ; R2_w=..."
LOG_LINE = re.compile(r"^\s*(\d+): (?:[.0-9]{10} )?\((\w\w)\) (.*?)(?:\s+; .*)?$")


def array_map(name: str, value_size: int):
    from pybpf.maps import MapSpec, MapType

    spec = MapSpec(name=name, type=MapType.ARRAY, key_size=4, value_size=value_size, max_entries=1)
    return spec.create()


def load_socket_filter(a: Assembler, maps: dict, log_level: int = 0):
    from pybpf.programs import ProgramSpec, ProgramType

    spec = ProgramSpec(name="asm_test", type=ProgramType.SOCKET_FILTER, insns=a, maps=maps)
    return spec.load(log_level=log_level)


def every_instruction_class(values) -> Assembler:
    """A verifiable program with one of (nearly) every instruction the DSL builds."""
    a = Assembler()
    a.mov(R6, R1, comment="ctx")
    a.ld_map_fd(R1, values)
    a.ld_map_value(R9, values, 8)
    a.mov(R2, 7).mov(R3, 3)
    for name in ALU:
        narrow = name.rstrip("_") + "32"
        getattr(a, name)(R2, R3)
        getattr(a, name)(R2, 5)
        getattr(a, narrow)(R2, R3)
        getattr(a, narrow)(R2, 5)
    a.sdiv(R2, R3).smod(R2, 3).sdiv32(R2, R3).smod32(R2, 3)
    a.movsx(R4, R2, 8).movsx(R4, R2, 32).movsx32(R4, R2, 16)
    a.neg(R2).neg32(R2).be(R2, 16).le(R2, 64).bswap(R2, 32)
    for name in JUMPS:
        getattr(a, name)(R2, R3, "next")
        getattr(a, name)(R2, -1, "next")
        getattr(a, name + "32")(R2, R3, "next")
        getattr(a, name + "32")(R2, 1, "next")
    a.label("next").ja("after_ja").label("after_ja").gotol("after_gotol").label("after_gotol")
    for size in (B, H, W, DW):
        a.st(size, R10, -8, -1).stx(size, R10, -16, R2).ldx(size, R4, R10, -8)
    for size in (B, H, W):
        a.ldxsx(size, R4, R10, -8)
    a.ld_imm64(R5, 0x1122334455667788).stx(DW, R10, -24, R5).stx(W, R10, -32, R5)
    for size, off in ((DW, -24), (W, -32)):
        for name in ("atomic_add", "atomic_or", "atomic_and", "atomic_xor"):
            getattr(a, name)(size, R10, off, R2)
            getattr(a, name)(size, R10, off, R2, fetch=True)
        a.xchg(size, R10, off, R2).mov(R0, 0).cmpxchg(size, R10, off, R2)
    a.call("ktime_get_ns").call_local("sub").ret(0)
    a.label("sub").ret(1)
    return a


def test_verifier_log_prints_each_instruction_as_our_listing_does(no_fd_leak):
    with array_map("asm_vals", 16) as values:
        a = every_instruction_class(values)
        with load_socket_filter(a, {}, log_level=2) as prog:
            log = prog.verifier_log
        insns = a.instructions()
    kernel: dict[int, tuple[str, str]] = {}
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        if match:
            kernel.setdefault(int(match[1]), (match[2], match[3]))
    slot = 0
    compared = 0
    for insn in insns:
        assert slot in kernel, f"the verifier log never printed slot {slot} ({insn})"
        opcode, text = kernel[slot]
        assert opcode == f"{insn.opcode:02x}"
        if insn.map_name is not None or (insn.src in (1, 2) and insn.slots == 2):
            # the kernel prints the map's address (or 0) where we print the map's name
            assert text.startswith(f"r{insn.dst} = ")
        else:
            assert text == str(insn.bare()), f"slot {slot}"
            compared += 1
        slot += insn.slots
    assert compared > 150


def c_div(n: int, d: int) -> int:
    """C division: truncates toward zero."""
    q = abs(n) // abs(d)
    return q if (n < 0) == (d < 0) else -q


def test_program_computes_what_python_computes(no_fd_leak):
    big = 0x1122334455667788
    x = (1 << 32) | 5
    results = []  # (what, expected value as u64)

    with array_map("asm_out", 8 * 32) as out:
        a = Assembler()
        a.ld_map_value(R9, out, comment="r9 = &out[0]")
        a.ld_imm64(R6, big).mov(R7, -7)

        def put(what: str, reg, expected: int) -> None:
            a.stx(DW, R9, 8 * len(results), reg, comment=what)
            results.append((what, expected & MASK64))

        a.mov(R1, R6).add(R1, 3)
        put("add", R1, big + 3)
        a.mov(R1, R6).sub32(R1, 3)
        put("sub32", R1, ((big & MASK32) - 3) & MASK32)
        a.mov(R1, R6).mul(R1, R7)
        put("mul by -7", R1, big * -7)
        a.mov(R1, R6).div(R1, 3)
        put("div", R1, big // 3)
        a.mov(R1, R6).mod(R1, 1000)
        put("mod", R1, big % 1000)
        a.mov(R1, R7).sdiv(R1, 2)
        put("sdiv", R1, c_div(-7, 2))
        a.mov(R1, R7).smod(R1, 2)
        put("smod", R1, -7 - 2 * c_div(-7, 2))
        a.mov(R1, R7).arsh(R1, 1)
        put("arsh", R1, -7 >> 1)
        a.mov(R1, R7).rsh(R1, 60)
        put("rsh", R1, (-7 & MASK64) >> 60)
        a.mov(R1, R6).lsh32(R1, 4)
        put("lsh32", R1, ((big & MASK32) << 4) & MASK32)
        a.mov(R1, R6).neg(R1)
        put("neg", R1, -big)
        a.mov(R1, R6).xor(R1, 3).or_(R1, 0xF0).and_(R1, -2)
        put("xor or and", R1, ((big ^ 3) | 0xF0) & (-2 & MASK64))
        a.movsx(R1, R6, 8)
        put("movsx 8", R1, struct.unpack("<b", bytes([big & 0xFF]))[0])
        a.movsx32(R1, R6, 16)
        put("movsx32 16", R1, big & 0xFFFF)  # 0x7788 is positive: zero-extended to 64 bits
        a.mov(R1, R6).bswap(R1, 64)
        put("bswap64", R1, int.from_bytes(big.to_bytes(8, "little"), "big"))
        a.mov(R1, R6).be(R1, 16)
        put("be16", R1, int.from_bytes((big & 0xFFFF).to_bytes(2, "little"), "big"))
        a.mov(R1, R6).le(R1, 32)
        put("le32", R1, big & MASK32)
        a.stx(DW, R10, -8, R6).ldxsx(B, R1, R10, -8)
        put("ldxsx byte", R1, struct.unpack_from("<b", big.to_bytes(8, "little"))[0])
        a.ldx(H, R1, R10, -6)
        put("ldx half", R1, struct.unpack_from("<H", big.to_bytes(8, "little"), 2)[0])

        a.st(DW, R10, -16, 10).mov(R2, 5).atomic_add(DW, R10, -16, R2, fetch=True)
        a.mov(R3, 0x100).atomic_or(DW, R10, -16, R3)
        a.mov(R3, 7).xchg(DW, R10, -16, R3)
        a.mov(R0, 7).mov(R4, 99).cmpxchg(DW, R10, -16, R4)
        a.ldx(DW, R5, R10, -16)
        put("fetch_add old", R2, 10)
        put("xchg old", R3, 15 | 0x100)
        put("cmpxchg old", R0, 7)
        put("after cmpxchg", R5, 99)
        a.st(W, R10, -20, 0xFF).mov(R2, 0x0F).atomic_xor(W, R10, -20, R2, fetch=True)
        a.mov(R3, 0x3C).atomic_and(W, R10, -20, R3).ldx(W, R4, R10, -20)
        put("fetch_xor old", R2, 0xFF)
        put("and after xor", R4, (0xFF ^ 0x0F) & 0x3C)

        a.ld_imm64(R1, x).mov(R2, 0)
        a.jne32(R1, 5, "not_eq32").or_(R2, 1).label("not_eq32")
        a.jne(R1, 5, "not_eq64").or_(R2, 2).label("not_eq64")
        a.mov32(R3, -1).jsge32(R3, 0, "not_neg32").or_(R2, 4).label("not_neg32")
        a.jge(R3, 0, "unsigned").or_(R2, 8).label("unsigned")  # r3 = 0xffffffff >= 0
        a.jset32(R1, 4, "bit").or_(R2, 16).label("bit")
        put(
            "jumps",
            R2,
            (1 if x & MASK32 == 5 else 0)
            | (2 if x == 5 else 0)
            | (4 if -1 < 0 else 0)
            | (0 if MASK32 >= 0 else 8)
            | (0 if (x & MASK32) & 4 else 16),
        )
        # (the verifier refuses statically unreachable code: reach "two" through a branch)
        a.mov(R1, 1).jne(R1, 1, "two").gotol("skip").label("two").mov(R1, 2).label("skip")
        put("gotol", R1, 1)
        a.mov(R1, 20).call_local("twice_plus_one")
        put("local call", R0, 20 * 2 + 1)
        a.mov(R1, 0).mov(R2, 0).label("loop")  # a bounded loop: a backward jump
        a.add(R2, R1).add(R1, 1).jlt(R1, 10, "loop")
        put("loop sum", R2, sum(range(10)))
        a.ret(0x1234, comment="retval")
        a.label("twice_plus_one").mov(R0, R1).lsh(R0, 1).add(R0, 1).exit()

        with load_socket_filter(a, {}) as prog:
            run = prog.test_run(data_in=bytes(64))
        got = out.lookup(0)
    assert run.retval == 0x1234
    got_values = struct.unpack_from(f"<{len(results)}Q", bytes(got))
    for (what, expected), value in zip(results, got_values, strict=True):
        assert value == expected, f"{what}: kernel {value:#x}, python {expected:#x}"
