"""Decode eBPF bytecode into :class:`~pybpf.asm.instruction.Instruction` values."""

from __future__ import annotations

import struct

from .errors import AssemblyError
from .instruction import Instruction
from .opcodes import LD_IMM64

_SLOT = struct.Struct("<BBhi")


class DisassemblyError(AssemblyError):
    """The bytes are not a whole number of instructions (or an ``lddw`` is cut short)."""


def disassemble(raw: bytes) -> list[Instruction]:
    """The instructions encoded in ``raw``; ``lddw`` becomes one instruction of two slots.

    Re-encoding the result gives ``raw`` back byte for byte (the second ``lddw`` slot's
    reserved fields are checked to be zero, as the kernel requires).
    """
    if len(raw) % 8:
        raise DisassemblyError(f"{len(raw)} bytes is not a whole number of 8-byte instructions")
    fields = list(_SLOT.iter_unpack(raw))
    out: list[Instruction] = []
    index = 0
    while index < len(fields):
        opcode, regs, off, imm = fields[index]
        if opcode == LD_IMM64:
            if index + 1 >= len(fields):
                raise DisassemblyError(f"slot {index}: lddw is missing its second slot")
            next_opcode, next_regs, next_off, high = fields[index + 1]
            if next_opcode or next_regs or next_off:
                raise DisassemblyError(
                    f"slot {index}: lddw's second slot has non-zero reserved fields"
                )
            value = ((high & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF)
            out.append(Instruction(opcode, regs & 0x0F, regs >> 4, off, value))
            index += 2
            continue
        out.append(Instruction(opcode, regs & 0x0F, regs >> 4, off, imm))
        index += 1
    return out
