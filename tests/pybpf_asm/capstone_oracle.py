"""Decode eBPF bytes with capstone 5 into plain tuples the tests can compare.

What capstone 5's BPF module (``CS_MODE_BPF_EXTENDED``) shows, and its quirks:
- mnemonics: ALU64 ops end in ``64`` (``add64``), 32-bit ALU ops have no suffix (``add``);
  loads/stores carry the size (``ldxw``, ``stxdw``, ``stb``); byte swaps are ``le16``/``be32``.
- immediates are unsigned 32-bit, jump offsets and memory displacements unsigned 16-bit.
- every ``BPF_ATOMIC`` decodes as ``xadd{w,dw}``: the operation (imm) is not shown.
- ``lddw`` shows the full 64-bit immediate but not the pseudo source (map fd / map value).
- ``call`` shows the imm but not the pseudo source (helper vs local call).
- an instruction that writes r10 (the read-only frame pointer) is refused: nothing is returned.
- not decoded at all (no instruction returned): the JMP32 class, ALU64 ``BPF_END`` (bswap) and
  ``BPF_MEMSX`` loads; sdiv/smod/movsx decode as div/mod/mov (the ``off`` field is ignored).
The kernel verifier log (``test_kernel.py``) covers what capstone cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Decoded:
    """One instruction as capstone decodes it."""

    mnemonic: str
    operands: tuple[tuple, ...]
    size: int


@cache
def _disassembler():
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_BPF, capstone.CS_MODE_BPF_EXTENDED)
    md.detail = True
    return md


def decode(raw: bytes) -> list[Decoded]:
    """Every instruction capstone decodes from ``raw`` (it stops at the first it cannot)."""
    from capstone import bpf

    out = []
    for insn in _disassembler().disasm(raw, 0):
        operands: list[tuple] = []
        for operand in insn.operands:
            if operand.type == bpf.BPF_OP_REG:
                operands.append(("reg", insn.reg_name(operand.reg)))
            elif operand.type == bpf.BPF_OP_IMM:
                operands.append(("imm", operand.imm))
            elif operand.type == bpf.BPF_OP_OFF:
                operands.append(("off", operand.off))
            elif operand.type == bpf.BPF_OP_MEM:
                base = insn.reg_name(operand.mem.base) if operand.mem.base else None
                operands.append(("mem", base, operand.mem.disp))
            else:
                operands.append(("other", operand.type))
        out.append(Decoded(insn.mnemonic, tuple(operands), insn.size))
    return out
