"""Every builder's encoding cross-checked against capstone's eBPF disassembler.

For random operands, one instruction is built with the DSL, decoded by capstone, and capstone's
mnemonic and operands must be the ones the builder was asked for. The expected mnemonic of each
builder is the specification (the ISA name of the operation); capstone's quirks are described in
``capstone_oracle.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.asm import DW, HELPER_IDS, R0, Assembler, B, H, Register, W

from .capstone_oracle import decode

decode(b"")  # build capstone's disassembler now, not inside a hypothesis example's deadline

registers = st.sampled_from(list(Register))
# capstone (like the verifier) refuses any instruction that writes r10, the frame pointer
writable = st.sampled_from([r for r in Register if r != Register.R10])
imm32 = st.integers(-(2**31), 2**31 - 1)
off16 = st.integers(-(2**15), 2**15 - 1)
sizes = st.sampled_from([B, H, W, DW])
SIZE_SUFFIX = {B: "b", H: "h", W: "w", DW: "dw"}

# builder name -> the ISA operation capstone names it by
ALU_OPS = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "mod": "mod",
    "or_": "or",
    "and_": "and",
    "lsh": "lsh",
    "rsh": "rsh",
    "arsh": "arsh",
    "xor": "xor",
    "mov": "mov",
}
JUMP_OPS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"]


def only(a: Assembler):
    """Capstone's decoding of the single instruction in ``a`` (checking it used every byte)."""
    raw = a.assemble()
    decoded = decode(raw)
    assert len(decoded) == 1, f"capstone decoded {decoded} from {raw.hex()}"
    assert decoded[0].size == len(raw)
    return decoded[0]


def reg(r: Register) -> tuple:
    return ("reg", f"r{int(r)}")


def u32(value: int) -> int:
    return value & 0xFFFFFFFF


def u16(value: int) -> int:
    return value & 0xFFFF


@pytest.mark.parametrize("builder", sorted(ALU_OPS))
@pytest.mark.parametrize("wide", [True, False], ids=["alu64", "alu32"])
@given(dst=writable, src=registers, imm=imm32)
def test_alu_register_and_immediate_sources(builder, wide, dst, src, imm):
    name = builder if wide else builder.rstrip("_") + "32"
    mnemonic = ALU_OPS[builder] + ("64" if wide else "")

    by_reg = only(getattr(Assembler(), name)(dst, src))
    assert (by_reg.mnemonic, by_reg.operands) == (mnemonic, (reg(dst), reg(src)))

    by_imm = only(getattr(Assembler(), name)(dst, imm))
    assert (by_imm.mnemonic, by_imm.operands) == (mnemonic, (reg(dst), ("imm", u32(imm))))


@given(dst=writable)
def test_neg(dst):
    decoded = only(Assembler().neg(dst))
    assert (decoded.mnemonic, decoded.operands) == ("neg64", (reg(dst),))
    decoded = only(Assembler().neg32(dst))
    assert (decoded.mnemonic, decoded.operands) == ("neg", (reg(dst),))


@pytest.mark.parametrize("builder", JUMP_OPS)
@given(dst=registers, src=registers, imm=imm32, off=off16)
def test_conditional_jumps(builder, dst, src, imm, off):
    by_reg = only(getattr(Assembler(), builder)(dst, src, off))
    assert (by_reg.mnemonic, by_reg.operands) == (builder, (reg(dst), reg(src), ("off", u16(off))))

    by_imm = only(getattr(Assembler(), builder)(dst, imm, off))
    expected = (reg(dst), ("imm", u32(imm)), ("off", u16(off)))
    assert (by_imm.mnemonic, by_imm.operands) == (builder, expected)


@given(off=off16)
def test_ja_and_exit(off):
    decoded = only(Assembler().ja(off))
    assert (decoded.mnemonic, decoded.operands) == ("jmp", (("off", u16(off)),))
    decoded = only(Assembler().exit())
    assert (decoded.mnemonic, decoded.operands) == ("exit", ())


@pytest.mark.parametrize("name", sorted(n for n, i in HELPER_IDS.items() if i))
def test_call_helper_by_name_and_with_prefix(name):
    for spelling in (name, "bpf_" + name):
        decoded = only(Assembler().call(spelling))
        assert (decoded.mnemonic, decoded.operands) == ("call", (("imm", HELPER_IDS[name]),))


@given(size=sizes, dst=writable, src=registers, off=off16)
def test_ldx(size, dst, src, off):
    decoded = only(Assembler().ldx(size, dst, src, off))
    assert (decoded.mnemonic, decoded.operands) == (
        "ldx" + SIZE_SUFFIX[size],
        (reg(dst), ("mem", f"r{int(src)}", u16(off))),
    )


@given(size=sizes, dst=registers, src=registers, off=off16)
def test_stx(size, dst, src, off):
    suffix = SIZE_SUFFIX[size]
    decoded = only(Assembler().stx(size, dst, off, src))
    assert (decoded.mnemonic, decoded.operands) == (
        "stx" + suffix,
        (("mem", f"r{int(dst)}", u16(off)), reg(src)),
    )


@given(size=sizes, dst=registers, off=off16, imm=imm32)
def test_st_immediate(size, dst, off, imm):
    decoded = only(Assembler().st(size, dst, off, imm))
    assert (decoded.mnemonic, decoded.operands) == (
        "st" + SIZE_SUFFIX[size],
        (("mem", f"r{int(dst)}", u16(off)), ("imm", u32(imm))),
    )


ATOMICS = [
    ("atomic_add", {}),
    ("atomic_add", {"fetch": True}),
    ("atomic_or", {}),
    ("atomic_or", {"fetch": True}),
    ("atomic_and", {}),
    ("atomic_and", {"fetch": True}),
    ("atomic_xor", {}),
    ("atomic_xor", {"fetch": True}),
    ("xchg", {}),
    ("cmpxchg", {}),
]


@pytest.mark.parametrize(("builder", "kwargs"), ATOMICS, ids=lambda v: str(v))
@given(size=st.sampled_from([W, DW]), dst=registers, src=registers, off=off16)
def test_atomics_address_and_operand(builder, kwargs, size, dst, src, off):
    # capstone 5 names every BPF_ATOMIC "xadd" (it ignores the imm that selects the operation);
    # the operation itself is checked against the kernel's own decoding in test_kernel.py.
    decoded = only(getattr(Assembler(), builder)(size, dst, off, src, **kwargs))
    assert (decoded.mnemonic, decoded.operands) == (
        "xadd" + SIZE_SUFFIX[size],
        (("mem", f"r{int(dst)}", u16(off)), reg(src)),
    )


@pytest.mark.parametrize("order", ["be", "le"])
@pytest.mark.parametrize("bits", [16, 32, 64])
@given(dst=writable)
def test_byte_order_conversions(order, bits, dst):
    decoded = only(getattr(Assembler(), order)(dst, bits))
    assert (decoded.mnemonic, decoded.operands) == (f"{order}{bits}", (reg(dst),))


@given(dst=writable, value=st.integers(-(2**63), 2**64 - 1))
def test_ld_imm64_takes_two_slots(dst, value):
    a = Assembler().ld_imm64(dst, value)
    assert len(a) == 2
    decoded = only(a)
    assert (decoded.mnemonic, decoded.operands) == ("lddw", (reg(dst), ("imm", value % 2**64)))


class FakeMap:
    def __init__(self, fd: int, name: str = "m") -> None:
        self.fd = fd
        self.name = name


@given(dst=writable, fd=st.integers(0, 2**31 - 1), offset=st.integers(0, 2**32 - 1))
def test_map_loads_carry_fd_and_value_offset(dst, fd, offset):
    # capstone hides the pseudo source; the 64-bit immediate is fd (low half), offset (high half)
    decoded = only(Assembler().ld_map_fd(dst, FakeMap(fd)))
    assert (decoded.mnemonic, decoded.operands) == ("lddw", (reg(dst), ("imm", fd)))
    decoded = decode(Assembler().ld_map_value(dst, "values", offset).assemble({"values": fd}))[0]
    assert (decoded.mnemonic, decoded.operands) == ("lddw", (reg(dst), ("imm", offset << 32 | fd)))


def test_capstone_agrees_on_a_whole_program():
    a = Assembler()
    a.mov(Register.R6, Register.R1)
    a.zero_stack(-16, 16)
    a.lookup_or_jump(FakeMap(3, "counts"), -16, "out")
    a.atomic_add(DW, R0, 0, Register.R6)
    a.label("out").ret(0)
    raw = a.assemble()
    decoded = decode(raw)
    assert sum(d.size for d in decoded) == len(raw) == 8 * len(a)
    assert [d.mnemonic for d in decoded] == [
        "mov64",
        "stdw",
        "stdw",
        "lddw",
        "mov64",
        "add64",
        "call",
        "jeq",
        "xadddw",
        "mov64",
        "exit",
    ]
    assert decoded[5].operands == (("reg", "r2"), ("imm", u32(-16)))
    assert decoded[1].operands[0] == ("mem", "r10", u16(-16))
