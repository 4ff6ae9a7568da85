"""The DSL's ALU and jump instructions compute what Python arithmetic says, run in the kernel.

Each hypothesis example assembles a program of several operations on 64-bit constants, runs it
with BPF_PROG_TEST_RUN, and reads every result back from an array map.
"""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.asm import DW, R1, R2, R3, R4, Assembler
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

pytestmark = pytest.mark.bpf

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
MAX_OPS = 24
PACKET = bytes(64)


def s64(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _swap(x: int, bits: int) -> int:
    return int.from_bytes((x & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


# Python meaning of each ALU op on (a, b): 64-bit operands in, 64-bit register out.
ALU64 = {
    "add": lambda a, b: (a + b) & M64,
    "sub": lambda a, b: (a - b) & M64,
    "mul": lambda a, b: (a * b) & M64,
    "div": lambda a, b: a // b if b else 0,
    "mod": lambda a, b: a % b if b else a,
    "sdiv": lambda a, b: trunc_div(s64(a), s64(b)) & M64 if b else 0,
    "smod": lambda a, b: (s64(a) - trunc_div(s64(a), s64(b)) * s64(b)) & M64 if b else a,
    "or_": lambda a, b: a | b,
    "and_": lambda a, b: a & b,
    "xor": lambda a, b: a ^ b,
    "lsh": lambda a, b: (a << (b & 63)) & M64,
    "rsh": lambda a, b: a >> (b & 63),
    "arsh": lambda a, b: (s64(a) >> (b & 63)) & M64,
}


def _alu32(fn64):
    return lambda a, b: fn64(a & M32, b & M32) & M32


ALU32 = {
    "add32": _alu32(ALU64["add"]),
    "sub32": _alu32(ALU64["sub"]),
    "mul32": _alu32(ALU64["mul"]),
    "div32": _alu32(ALU64["div"]),
    "mod32": _alu32(ALU64["mod"]),
    "sdiv32": lambda a, b: trunc_div(s32(a), s32(b)) & M32 if b & M32 else 0,
    "smod32": lambda a, b: (
        (s32(a) - trunc_div(s32(a), s32(b)) * s32(b)) & M32 if b & M32 else a & M32
    ),
    "or32": _alu32(ALU64["or_"]),
    "and32": _alu32(ALU64["and_"]),
    "xor32": _alu32(ALU64["xor"]),
    "lsh32": lambda a, b: ((a & M32) << (b & 31)) & M32,
    "rsh32": lambda a, b: (a & M32) >> (b & 31),
    "arsh32": lambda a, b: (s32(a) >> (b & 31)) & M32,
}
ALU = {**ALU64, **ALU32}
SHIFTS = {"lsh", "rsh", "arsh", "lsh32", "rsh32", "arsh32"}
DIVISIONS = {"div", "mod", "sdiv", "smod", "div32", "mod32", "sdiv32", "smod32"}


def _swapper(bits: int):
    return lambda a: _swap(a, bits)


def _truncator(bits: int):
    return lambda a: a & ((1 << bits) - 1)


UNARY = {
    "neg": lambda a: -a & M64,
    "neg32": lambda a: -a & M32,
    **{f"be{n}": _swapper(n) for n in (16, 32, 64)},
    **{f"le{n}": _truncator(n) for n in (16, 32, 64)},
    **{f"bswap{n}": _swapper(n) for n in (16, 32, 64)},
}
assert sys.byteorder == "little"  # be*/le* expectations above are for a little-endian host


JUMPS64 = {
    "jeq": lambda a, b: a == b,
    "jne": lambda a, b: a != b,
    "jgt": lambda a, b: a > b,
    "jge": lambda a, b: a >= b,
    "jlt": lambda a, b: a < b,
    "jle": lambda a, b: a <= b,
    "jsgt": lambda a, b: s64(a) > s64(b),
    "jsge": lambda a, b: s64(a) >= s64(b),
    "jslt": lambda a, b: s64(a) < s64(b),
    "jsle": lambda a, b: s64(a) <= s64(b),
    "jset": lambda a, b: bool(a & b),
}


def _unsigned32(fn):
    return lambda a, b: fn(a & M32, b & M32)


def _signed32(fn):
    return lambda a, b: fn(s32(a) & M64, s32(b) & M64)


SIGNED_JUMPS = {"jsgt", "jsge", "jslt", "jsle"}
JUMPS = {
    **JUMPS64,
    **{
        f"{name}32": _signed32(fn) if name in SIGNED_JUMPS else _unsigned32(fn)
        for name, fn in JUMPS64.items()
    },
}

interesting = st.sampled_from(
    [0, 1, 2, 7, M64, M64 - 1, 1 << 63, (1 << 63) - 1, M32, 1 << 31, (1 << 31) - 1, 1 << 32]
)
u64s = st.one_of(interesting, st.integers(0, M64))
operation = st.tuples(
    st.sampled_from(sorted(ALU) + sorted(UNARY) + sorted(JUMPS)), u64s, u64s, st.booleans()
)


def imm_of(name: str, b: int) -> int:
    """The immediate an op takes for b: 32-bit signed, shifts in range, divisors non-zero."""
    if name in SHIFTS:
        return b % (32 if name.endswith("32") else 64)
    imm = s32(b)
    if name in DIVISIONS and imm == 0:
        return 1
    return imm


def expected(name: str, a: int, b: int, use_imm: bool) -> int:
    if name in UNARY:
        return UNARY[name](a)
    if use_imm:
        b = imm_of(name, b) & M64  # the kernel sign-extends imm to 64 bits
    if name in ALU:
        return ALU[name](a, b)
    return int(JUMPS[name](a, b))


def emit(a: Assembler, i: int, name: str, x: int, y: int, use_imm: bool, results) -> None:
    a.ld_imm64(R1, x)
    src = imm_of(name, y) if use_imm else R2
    if not use_imm:
        a.ld_imm64(R2, y)
    if name in ALU:
        getattr(a, name)(R1, src)
    elif name in UNARY:
        if name.startswith("neg"):
            getattr(a, name)(R1)
        else:
            kind, bits = name.rstrip("0123456789"), int(name.lstrip("abeglswp"))
            getattr(a, kind)(R1, bits)
    else:
        getattr(a, name)(R1, src, f"taken{i}")
        a.mov(R1, 0)
        a.ja(f"done{i}")
        a.label(f"taken{i}")
        a.mov(R1, 1)
        a.label(f"done{i}")
    a.ld_map_value(R3, results, 8 * i)
    a.stx(DW, R3, 0, R1)


@pytest.fixture(scope="module")
def results():
    spec = MapSpec("alu_results", MapType.ARRAY, 4, 8 * MAX_OPS, 1)
    with spec.create() as m:
        yield m


def run_in_kernel(results, ops) -> list[int]:
    a = Assembler()
    for i, (name, x, y, use_imm) in enumerate(ops):
        emit(a, i, name, x, y, use_imm, results)
    a.mov(R4, 0)
    a.ret(0)
    with ProgramSpec("alu", ProgramType.SOCKET_FILTER, a).load() as prog:
        prog.test_run(PACKET)
    return list(struct.unpack_from(f"={len(ops)}Q", results.lookup(0)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=MAX_OPS))
def test_alu_and_jumps_match_python(results, ops):
    got = run_in_kernel(results, ops)
    want = [expected(name, x, y, use_imm) for name, x, y, use_imm in ops]
    mismatches = [
        f"{name}({x:#x}, {y:#x}, imm={use_imm}): kernel {g:#x}, python {w:#x}"
        for (name, x, y, use_imm), g, w in zip(ops, got, want, strict=True)
        if g != w
    ]
    assert not mismatches, "\n".join(mismatches)


def test_division_by_zero_and_modulo_by_zero_edge_cases(results):
    ops = [
        ("div", 12345, 0, False),
        ("mod", 12345, 0, False),
        ("div32", (7 << 32) | 99, 1 << 32, False),  # divisor is zero in 32 bits
        ("mod32", (7 << 32) | 99, 1 << 32, False),  # dividend's upper half is zeroed
        ("sdiv", 1 << 63, M64, False),  # INT64_MIN / -1 overflows to INT64_MIN
        ("smod", 1 << 63, M64, False),
    ]
    got = run_in_kernel(results, ops)
    assert got == [0, 12345, 0, 99, 1 << 63, 0]
    assert got == [expected(*op) for op in ops]
