"""eBPF opcode fields, registers and access sizes (``include/uapi/linux/bpf_common.h``, ``bpf.h``).

An opcode byte is ``class | op | source`` for ALU and jump instructions and
``class | mode | size`` for loads and stores.
"""

from __future__ import annotations

from enum import IntEnum

# Instruction classes (low 3 bits).
LD = 0x00
LDX = 0x01
ST = 0x02
STX = 0x03
ALU = 0x04
JMP = 0x05
JMP32 = 0x06
ALU64 = 0x07

# Load/store modes (top 3 bits).
IMM = 0x00
ABS = 0x20
IND = 0x40
MEM = 0x60
MEMSX = 0x80
ATOMIC = 0xC0

# Source operand (bit 3): immediate or register. For BPF_END the same bit picks the byte order.
K = 0x00
X = 0x08
TO_LE = 0x00
TO_BE = 0x08

# ALU operations (top 4 bits).
ADD = 0x00
SUB = 0x10
MUL = 0x20
DIV = 0x30
OR = 0x40
AND = 0x50
LSH = 0x60
RSH = 0x70
NEG = 0x80
MOD = 0x90
XOR = 0xA0
MOV = 0xB0
ARSH = 0xC0
END = 0xD0

# Jump operations (top 4 bits).
JA = 0x00
JEQ = 0x10
JGT = 0x20
JGE = 0x30
JSET = 0x40
JNE = 0x50
JSGT = 0x60
JSGE = 0x70
CALL = 0x80
EXIT = 0x90
JLT = 0xA0
JLE = 0xB0
JSLT = 0xC0
JSLE = 0xD0

# Atomic operations (in the imm field of BPF_STX | BPF_ATOMIC).
FETCH = 0x01
XCHG = 0xE0 | FETCH
CMPXCHG = 0xF0 | FETCH

# src_reg values with a special meaning for BPF_LD | BPF_IMM | BPF_DW.
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6

# src_reg values with a special meaning for BPF_JMP | BPF_CALL.
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2

LD_IMM64 = LD | IMM | 0x18  # the only two-slot instruction ("lddw")


def op_class(opcode: int) -> int:
    """The instruction class of ``opcode`` (LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64)."""
    return opcode & 0x07


def alu_op(opcode: int) -> int:
    """The ALU or jump operation of ``opcode`` (top 4 bits)."""
    return opcode & 0xF0


def source(opcode: int) -> int:
    """The source bit of ``opcode``: K (immediate) or X (register)."""
    return opcode & 0x08


def mode(opcode: int) -> int:
    """The load/store mode of ``opcode`` (top 3 bits)."""
    return opcode & 0xE0


def size_field(opcode: int) -> int:
    """The access size bits of a load/store ``opcode``."""
    return opcode & 0x18


class Size(IntEnum):
    """Memory access sizes: the opcode size bits, with the byte width and C type names."""

    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18

    @property
    def bytes(self) -> int:
        """The width in bytes."""
        return _SIZE_BYTES[self]

    @property
    def unsigned(self) -> str:
        """The kernel's name for the unsigned type of this width (``u32``)."""
        return f"u{self.bytes * 8}"

    @property
    def signed(self) -> str:
        """The kernel's name for the signed type of this width (``s32``)."""
        return f"s{self.bytes * 8}"

    def __str__(self) -> str:
        return self.name


_SIZE_BYTES = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}

B = Size.B
H = Size.H
W = Size.W
DW = Size.DW


class Register(IntEnum):
    """eBPF registers: r0 (return value), r1-r5 (arguments), r6-r9 (callee saved), r10 (frame)."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10

    def __str__(self) -> str:
        return f"r{self.value}"


R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = Register
FP = R10  # the read-only frame pointer
