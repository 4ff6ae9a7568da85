"""Instruction text in the kernel verifier's notation (``kernel/bpf/disasm.c``).

The text is what the verifier log prints after the ``(opcode)`` column, e.g.
``r0 = *(u32 *)(r1 +4)`` or ``if r0 == 0x0 goto pc+3``, so our listings line up with verifier
logs. Where the kernel would print a raw number we add what we know: the label a jump goes to
(``goto pc+3 <out>``) and the map an ``lddw`` loads (``r1 = map[counts]``).
"""

from __future__ import annotations

from typing import Protocol

from . import opcodes as op
from .helpers import helper_name


class Instruction(Protocol):
    """The fields of an instruction this notation reads (:class:`~.instruction.Instruction`)."""

    @property
    def opcode(self) -> int: ...
    @property
    def dst(self) -> int: ...
    @property
    def src(self) -> int: ...
    @property
    def off(self) -> int: ...
    @property
    def imm(self) -> int: ...
    @property
    def target(self) -> str | None: ...
    @property
    def map_name(self) -> str | None: ...


ALU_SYMBOLS = {
    op.ADD: "+=",
    op.SUB: "-=",
    op.MUL: "*=",
    op.DIV: "/=",
    op.OR: "|=",
    op.AND: "&=",
    op.LSH: "<<=",
    op.RSH: ">>=",
    op.MOD: "%=",
    op.XOR: "^=",
    op.MOV: "=",
    op.ARSH: "s>>=",
}
SIGNED_ALU_SYMBOLS = {op.DIV: "s/=", op.MOD: "s%="}
MOVSX_CASTS = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
JUMP_SYMBOLS = {
    op.JEQ: "==",
    op.JGT: ">",
    op.JGE: ">=",
    op.JSET: "&",
    op.JNE: "!=",
    op.JSGT: "s>",
    op.JSGE: "s>=",
    op.JLT: "<",
    op.JLE: "<=",
    op.JSLT: "s<",
    op.JSLE: "s<=",
}
ATOMIC_NAMES = {op.ADD: "add", op.AND: "and", op.OR: "or", op.XOR: "xor"}
_UNSIGNED = {op.W: "u32", op.H: "u16", op.B: "u8", op.DW: "u64"}
_SIGNED = {op.W: "s32", op.H: "s16", op.B: "s8"}


def _mem(ctype: str, reg: int, off: int) -> str:
    return f"*({ctype} *)(r{reg} {off:+d})"


def _pc(off: int, target: str | None) -> str:
    text = f"pc{off:+d}"
    return f"{text} <{target}>" if target else text


def describe(insn: Instruction) -> str:
    """The verifier-notation text of ``insn`` (without the ``(opcode)`` column)."""
    cls = op.op_class(insn.opcode)
    if cls in (op.ALU, op.ALU64):
        return _describe_alu(insn, cls)
    if cls in (op.JMP, op.JMP32):
        return _describe_jump(insn, cls)
    if cls == op.LDX:
        return _describe_ldx(insn)
    if cls == op.STX:
        return _describe_stx(insn)
    if cls == op.ST:
        if op.mode(insn.opcode) == op.MEM:
            ctype = _UNSIGNED[op.size_field(insn.opcode)]
            return f"{_mem(ctype, insn.dst, insn.off)} = {insn.imm}"
        return f"BUG_st_{insn.opcode:02x}"
    return _describe_ld(insn)


def _describe_alu(insn: Instruction, cls: int) -> str:
    operation = op.alu_op(insn.opcode)
    reg = "w" if cls == op.ALU else "r"
    if operation == op.END:
        if cls == op.ALU64:
            return f"r{insn.dst} = bswap{insn.imm} r{insn.dst}"
        order = "be" if op.source(insn.opcode) == op.TO_BE else "le"
        return f"r{insn.dst} = {order}{insn.imm} r{insn.dst}"
    if operation == op.NEG:
        return f"{reg}{insn.dst} = -{reg}{insn.dst}"
    symbol = ALU_SYMBOLS.get(operation, f"BUG_alu_{operation:02x}")
    if insn.off == 1 and operation in SIGNED_ALU_SYMBOLS:
        symbol = SIGNED_ALU_SYMBOLS[operation]
    if op.source(insn.opcode) == op.X:
        cast = MOVSX_CASTS.get(insn.off, "") if operation == op.MOV else ""
        return f"{reg}{insn.dst} {symbol} {cast}{reg}{insn.src}"
    return f"{reg}{insn.dst} {symbol} {insn.imm}"


def _describe_jump(insn: Instruction, cls: int) -> str:
    operation = op.alu_op(insn.opcode)
    if operation == op.CALL:
        if insn.src == op.PSEUDO_CALL:
            return f"call {_pc(insn.imm, insn.target)}"
        if insn.src == op.PSEUDO_KFUNC_CALL:
            return f"call kernel-function#{insn.imm}"
        name = helper_name(insn.imm)
        return f"call {'bpf_' + name if name and insn.imm else 'unknown'}#{insn.imm}"
    if operation == op.EXIT:
        return "exit"
    if operation == op.JA:
        if cls == op.JMP32:
            return f"gotol {_pc(insn.imm, insn.target)}"
        return f"goto {_pc(insn.off, insn.target)}"
    reg = "w" if cls == op.JMP32 else "r"
    symbol = JUMP_SYMBOLS.get(operation, f"BUG_jmp_{operation:02x}")
    if op.source(insn.opcode) == op.X:
        rhs = f"{reg}{insn.src}"
    else:
        rhs = f"{insn.imm & 0xFFFFFFFF:#x}"
    return f"if {reg}{insn.dst} {symbol} {rhs} goto {_pc(insn.off, insn.target)}"


def _describe_ldx(insn: Instruction) -> str:
    size = op.size_field(insn.opcode)
    if op.mode(insn.opcode) == op.MEMSX and size in _SIGNED:
        ctype = _SIGNED[size]
    elif op.mode(insn.opcode) == op.MEM:
        ctype = _UNSIGNED[size]
    else:
        return f"BUG_ldx_{insn.opcode:02x}"
    return f"r{insn.dst} = {_mem(ctype, insn.src, insn.off)}"


def _describe_stx(insn: Instruction) -> str:
    ctype = _UNSIGNED[op.size_field(insn.opcode)]
    where = f"({ctype} *)(r{insn.dst} {insn.off:+d})"
    mode = op.mode(insn.opcode)
    if mode == op.MEM:
        return f"*{where} = r{insn.src}"
    if mode != op.ATOMIC:
        return f"BUG_{insn.opcode:02x}"
    bits = "64" if op.size_field(insn.opcode) == op.DW else ""
    atomic = insn.imm & 0xFF
    if insn.imm in ATOMIC_NAMES:
        return f"lock *{where} {ALU_SYMBOLS[insn.imm]} r{insn.src}"
    if insn.imm & op.FETCH and (insn.imm & ~op.FETCH) in ATOMIC_NAMES:
        name = ATOMIC_NAMES[insn.imm & ~op.FETCH]
        return f"r{insn.src} = atomic{bits}_fetch_{name}({where}, r{insn.src})"
    if atomic == op.XCHG:
        return f"r{insn.src} = atomic{bits}_xchg({where}, r{insn.src})"
    if atomic == op.CMPXCHG:
        return f"r0 = atomic{bits}_cmpxchg({where}, r0, r{insn.src})"
    return f"BUG_{insn.opcode:02x}"


def _describe_ld(insn: Instruction) -> str:
    mode = op.mode(insn.opcode)
    ctype = _UNSIGNED[op.size_field(insn.opcode)]
    if mode == op.ABS:
        return f"r0 = *({ctype} *)skb[{insn.imm}]"
    if mode == op.IND:
        return f"r0 = *({ctype} *)skb[r{insn.src} + {insn.imm}]"
    if insn.opcode != op.LD_IMM64:
        return f"BUG_ld_{insn.opcode:02x}"
    fd = insn.imm & 0xFFFFFFFF
    which = insn.map_name if insn.map_name is not None else f"fd:{fd}"
    if insn.src == op.PSEUDO_MAP_FD:
        return f"r{insn.dst} = map[{which}]"
    if insn.src == op.PSEUDO_MAP_VALUE:
        return f"r{insn.dst} = map[{which}][0]+{insn.imm >> 32}"
    if insn.src == op.PSEUDO_FUNC and insn.target:
        return f"r{insn.dst} = func <{insn.target}>"
    return f"r{insn.dst} = {insn.imm:#x}"
