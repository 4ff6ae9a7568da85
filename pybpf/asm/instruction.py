"""One eBPF instruction as a value: its fields, its encoding and its text.

``struct bpf_insn`` is 8 bytes: ``u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm`` (little
endian on the hosts we support). ``lddw`` (``BPF_LD | BPF_IMM | BPF_DW``) is the one instruction
that takes two 8-byte slots; here it is a single :class:`Instruction` whose ``imm`` holds the full
64-bit value and whose :attr:`~Instruction.slots` is 2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from .notation import describe
from .opcodes import LD_IMM64

_SLOT = struct.Struct("<BBhi")
_WIDE = struct.Struct("<BBhiBBhi")

INT16 = (-(2**15), 2**15 - 1)
INT32 = (-(2**31), 2**31 - 1)


def _fit_imm32(value: int) -> int:
    """``value`` as the signed 32-bit imm the kernel sees; unsigned 32-bit inputs are accepted."""
    if INT32[0] <= value <= INT32[1]:
        return value
    if 0 <= value < 2**32:
        return value - 2**32
    raise ValueError(f"immediate {value} does not fit in 32 bits")


@dataclass(frozen=True, slots=True)
class Instruction:
    """An eBPF instruction.

    ``target`` names the label a jump or local call goes to (kept after resolution so listings
    can show it); ``map_name`` names the map an ``lddw`` refers to. ``comment`` is shown in
    listings and ignored by equality: two instructions are equal when their fields (and symbolic
    references) are.
    """

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: str | None = None
    map_name: str | None = None
    comment: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.opcode <= 0xFF:
            raise ValueError(f"opcode {self.opcode:#x} is not a byte")
        if not (0 <= self.dst <= 15 and 0 <= self.src <= 15):
            raise ValueError(f"registers must be 0..15, got dst={self.dst} src={self.src}")
        if not INT16[0] <= self.off <= INT16[1]:
            raise ValueError(f"offset {self.off} does not fit in a signed 16-bit field")
        if self.opcode == LD_IMM64:
            if not -(2**63) <= self.imm < 2**64:
                raise ValueError(f"64-bit immediate {self.imm} does not fit in 64 bits")
            object.__setattr__(self, "imm", self.imm & (2**64 - 1))
        else:
            object.__setattr__(self, "imm", _fit_imm32(self.imm))

    @property
    def slots(self) -> int:
        """How many 8-byte slots the instruction takes (2 for ``lddw``, else 1)."""
        return 2 if self.opcode == LD_IMM64 else 1

    def encode(self) -> bytes:
        """The instruction's bytes as the kernel reads them (8, or 16 for ``lddw``)."""
        regs = (self.src << 4) | self.dst
        if self.opcode == LD_IMM64:
            low = self.imm & 0xFFFFFFFF
            high = self.imm >> 32
            return _WIDE.pack(
                self.opcode,
                regs,
                self.off,
                low - 2**32 if low >= 2**31 else low,
                0,
                0,
                0,
                high - 2**32 if high >= 2**31 else high,
            )
        return _SLOT.pack(self.opcode, regs, self.off, self.imm)

    def bare(self) -> Instruction:
        """This instruction without symbolic references or comment (what a disassembler sees)."""
        if self.target is None and self.map_name is None and not self.comment:
            return self
        return replace(self, target=None, map_name=None, comment="")

    def with_comment(self, comment: str) -> Instruction:
        """A copy with ``comment``."""
        return replace(self, comment=comment)

    def __str__(self) -> str:
        return describe(self)
