"""The eBPF assembler: builder methods that read like the ISA, labels, map references, listing.

A program is built by calling one method per instruction on an :class:`Assembler`; jumps name
labels, which are resolved (forward and backward) when the program is assembled. Jump offsets
count 8-byte slots, and ``lddw`` takes two. Maps are referenced by object (anything with ``.fd``
and ``.name``) or by name, resolved from ``assemble(maps={name: fd})``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from . import opcodes as op
from .errors import (
    DuplicateLabelError,
    JumpRangeError,
    MissingMapError,
    UnknownLabelError,
)
from .helpers import helper_id
from .instruction import INT16, INT32, Instruction
from .opcodes import Register, Size

Source = Register | int  # a register, or an immediate (any int that is not a Register)
Target = str | int  # a label, or a raw offset in slots


class MapLike(Protocol):
    """Anything that stands for a loaded map: it has an fd (and usually a name)."""

    fd: int


MapRef = MapLike | str


def _register(value: Any, role: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise TypeError(f"{role} must be a register R0..R10, got {value!r}")
    return int(value)


def _immediate(value: Any, role: str = "immediate") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{role} must be an int, got {value!r}")
    return int(value)


def _size(value: Any) -> Size:
    if not isinstance(value, Size):
        raise TypeError(f"size must be one of B, H, W, DW, got {value!r}")
    return value


def _alu_builder(operation: int, cls: int, name: str, doc: str) -> Callable[..., Assembler]:
    def build(self: Assembler, dst: Register, src: Source, *, comment: str = "") -> Assembler:
        return self._alu(operation, cls, dst, src, 0, comment)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


def _jump_builder(operation: int, cls: int, name: str, doc: str) -> Callable[..., Assembler]:
    def build(
        self: Assembler, dst: Register, src: Source, target: Target, *, comment: str = ""
    ) -> Assembler:
        return self._jump(operation, cls, dst, src, target, comment)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


class Assembler:
    """Builds an eBPF program one instruction at a time (every builder returns ``self``).

    >>> from pybpf.asm import Assembler, R0
    >>> a = Assembler()
    >>> _ = a.mov(R0, 0).exit()
    >>> len(a)
    2
    """

    def __init__(self) -> None:
        self._insns: list[Instruction] = []
        self._labels: dict[str, int] = {}  # label -> index into _insns it precedes
        self._map_refs: dict[int, MapRef] = {}  # index into _insns -> how its fd is found
        self._slots = 0

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        """The program's length in 8-byte slots (``lddw`` counts 2)."""
        return self._slots

    def __repr__(self) -> str:
        return f"<Assembler {len(self._insns)} instructions, {self._slots} slots>"

    def append(self, insn: Instruction) -> Assembler:
        """Append a ready-made instruction (its ``target`` label, if any, is resolved later)."""
        if not isinstance(insn, Instruction):
            raise TypeError(f"expected an Instruction, got {insn!r}")
        self._insns.append(insn)
        self._slots += insn.slots
        return self

    def extend(self, insns: Iterable[Instruction]) -> Assembler:
        """Append several ready-made instructions."""
        for insn in insns:
            self.append(insn)
        return self

    def label(self, name: str) -> Assembler:
        """Define ``name`` at the next instruction; jumps to it may come before or after."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a label must be a non-empty str, got {name!r}")
        if name in self._labels:
            where = self._slot_of(self._labels[name])
            raise DuplicateLabelError(f"label {name!r} is defined twice (first at slot {where})")
        self._labels[name] = len(self._insns)
        return self

    @property
    def labels(self) -> dict[str, int]:
        """Each label and the slot it marks."""
        starts, end = self._slot_starts()
        return {
            name: starts[index] if index < len(starts) else end
            for name, index in self._labels.items()
        }

    def _slot_starts(self) -> tuple[list[int], int]:
        """The slot each instruction starts at, and the slot after the last one."""
        starts = []
        slot = 0
        for insn in self._insns:
            starts.append(slot)
            slot += insn.slots
        return starts, slot

    def _slot_of(self, index: int) -> int:
        return sum(insn.slots for insn in self._insns[:index])

    def _emit(self, insn: Instruction) -> Assembler:
        self._insns.append(insn)
        self._slots += insn.slots
        return self

    # ------------------------------------------------------------------ ALU

    def _alu(
        self, operation: int, cls: int, dst: Register, src: Source, off: int, comment: str
    ) -> Assembler:
        dst_reg = _register(dst, "dst")
        if isinstance(src, Register):
            return self._emit(
                Instruction(cls | operation | op.X, dst_reg, int(src), off, 0, comment=comment)
            )
        imm = _immediate(src, "source")
        return self._emit(
            Instruction(cls | operation | op.K, dst_reg, 0, off, imm, comment=comment)
        )

    add = _alu_builder(op.ADD, op.ALU64, "add", "dst += src (64-bit; src a register or an int).")
    sub = _alu_builder(op.SUB, op.ALU64, "sub", "dst -= src (64-bit).")
    mul = _alu_builder(op.MUL, op.ALU64, "mul", "dst *= src (64-bit).")
    div = _alu_builder(op.DIV, op.ALU64, "div", "dst /= src (64-bit, unsigned; x/0 gives 0).")
    mod = _alu_builder(op.MOD, op.ALU64, "mod", "dst %= src (64-bit, unsigned; x%0 gives x).")
    or_ = _alu_builder(op.OR, op.ALU64, "or_", "dst |= src (64-bit).")
    and_ = _alu_builder(op.AND, op.ALU64, "and_", "dst &= src (64-bit).")
    lsh = _alu_builder(op.LSH, op.ALU64, "lsh", "dst <<= src (64-bit).")
    rsh = _alu_builder(op.RSH, op.ALU64, "rsh", "dst >>= src (64-bit, logical).")
    arsh = _alu_builder(op.ARSH, op.ALU64, "arsh", "dst s>>= src (64-bit, arithmetic).")
    xor = _alu_builder(op.XOR, op.ALU64, "xor", "dst ^= src (64-bit).")
    mov = _alu_builder(op.MOV, op.ALU64, "mov", "dst = src (64-bit; an int is sign-extended).")
    add32 = _alu_builder(op.ADD, op.ALU, "add32", "wdst += src (32-bit, upper half zeroed).")
    sub32 = _alu_builder(op.SUB, op.ALU, "sub32", "wdst -= src (32-bit).")
    mul32 = _alu_builder(op.MUL, op.ALU, "mul32", "wdst *= src (32-bit).")
    div32 = _alu_builder(op.DIV, op.ALU, "div32", "wdst /= src (32-bit, unsigned).")
    mod32 = _alu_builder(op.MOD, op.ALU, "mod32", "wdst %= src (32-bit, unsigned).")
    or32 = _alu_builder(op.OR, op.ALU, "or32", "wdst |= src (32-bit).")
    and32 = _alu_builder(op.AND, op.ALU, "and32", "wdst &= src (32-bit).")
    lsh32 = _alu_builder(op.LSH, op.ALU, "lsh32", "wdst <<= src (32-bit).")
    rsh32 = _alu_builder(op.RSH, op.ALU, "rsh32", "wdst >>= src (32-bit, logical).")
    arsh32 = _alu_builder(op.ARSH, op.ALU, "arsh32", "wdst s>>= src (32-bit, arithmetic).")
    xor32 = _alu_builder(op.XOR, op.ALU, "xor32", "wdst ^= src (32-bit).")
    mov32 = _alu_builder(op.MOV, op.ALU, "mov32", "wdst = src (32-bit, upper half zeroed).")

    def sdiv(self, dst: Register, src: Source, *, comment: str = "") -> Assembler:
        """dst s/= src (64-bit, signed; cpu v4, kernel 6.6+)."""
        return self._alu(op.DIV, op.ALU64, dst, src, 1, comment)

    def smod(self, dst: Register, src: Source, *, comment: str = "") -> Assembler:
        """dst s%= src (64-bit, signed; cpu v4, kernel 6.6+)."""
        return self._alu(op.MOD, op.ALU64, dst, src, 1, comment)

    def sdiv32(self, dst: Register, src: Source, *, comment: str = "") -> Assembler:
        """wdst s/= src (32-bit, signed; cpu v4)."""
        return self._alu(op.DIV, op.ALU, dst, src, 1, comment)

    def smod32(self, dst: Register, src: Source, *, comment: str = "") -> Assembler:
        """wdst s%= src (32-bit, signed; cpu v4)."""
        return self._alu(op.MOD, op.ALU, dst, src, 1, comment)

    def neg(self, dst: Register, *, comment: str = "") -> Assembler:
        """dst = -dst (64-bit)."""
        return self._emit(Instruction(op.ALU64 | op.NEG, _register(dst, "dst"), comment=comment))

    def neg32(self, dst: Register, *, comment: str = "") -> Assembler:
        """wdst = -wdst (32-bit)."""
        return self._emit(Instruction(op.ALU | op.NEG, _register(dst, "dst"), comment=comment))

    def movsx(self, dst: Register, src: Register, bits: int, *, comment: str = "") -> Assembler:
        """dst = (s<bits>)src: sign-extend the low 8, 16 or 32 bits of src (cpu v4)."""
        if bits not in (8, 16, 32):
            raise ValueError(f"movsx sign-extends 8, 16 or 32 bits, not {bits}")
        return self._alu(op.MOV, op.ALU64, dst, Register(_register(src, "src")), bits, comment)

    def movsx32(self, dst: Register, src: Register, bits: int, *, comment: str = "") -> Assembler:
        """wdst = (s<bits>)wsrc: sign-extend the low 8 or 16 bits of src to 32 bits (cpu v4)."""
        if bits not in (8, 16):
            raise ValueError(f"movsx32 sign-extends 8 or 16 bits, not {bits}")
        return self._alu(op.MOV, op.ALU, dst, Register(_register(src, "src")), bits, comment)

    # ------------------------------------------------------------------ byte swaps

    def _byte_swap(self, cls: int, order: int, dst: Register, bits: int, comment: str) -> Assembler:
        if bits not in (16, 32, 64):
            raise ValueError(f"byte swaps are 16, 32 or 64 bits wide, not {bits}")
        insn = Instruction(cls | op.END | order, _register(dst, "dst"), 0, 0, bits, comment=comment)
        return self._emit(insn)

    def be(self, dst: Register, bits: int, *, comment: str = "") -> Assembler:
        """dst = htobe<bits>(dst): to big endian (a swap on little-endian hosts)."""
        return self._byte_swap(op.ALU, op.TO_BE, dst, bits, comment)

    def le(self, dst: Register, bits: int, *, comment: str = "") -> Assembler:
        """dst = htole<bits>(dst): to little endian (truncates on little-endian hosts)."""
        return self._byte_swap(op.ALU, op.TO_LE, dst, bits, comment)

    def bswap(self, dst: Register, bits: int, *, comment: str = "") -> Assembler:
        """dst = bswap<bits>(dst): unconditional byte swap (cpu v4, kernel 6.6+)."""
        return self._byte_swap(op.ALU64, op.TO_LE, dst, bits, comment)

    # ------------------------------------------------------------------ jumps

    def _jump(
        self, operation: int, cls: int, dst: Register, src: Source, target: Target, comment: str
    ) -> Assembler:
        dst_reg = _register(dst, "dst")
        label, off = self._target(target)
        if isinstance(src, Register):
            insn = Instruction(
                cls | operation | op.X, dst_reg, int(src), off, 0, label, None, comment
            )
        else:
            imm = _immediate(src, "comparand")
            insn = Instruction(cls | operation | op.K, dst_reg, 0, off, imm, label, None, comment)
        return self._emit(insn)

    @staticmethod
    def _target(target: Target) -> tuple[str | None, int]:
        if isinstance(target, str):
            return target, 0
        return None, _immediate(target, "jump target")

    jeq = _jump_builder(op.JEQ, op.JMP, "jeq", "if dst == src goto target (64-bit).")
    jne = _jump_builder(op.JNE, op.JMP, "jne", "if dst != src goto target (64-bit).")
    jgt = _jump_builder(op.JGT, op.JMP, "jgt", "if dst > src goto target (unsigned, 64-bit).")
    jge = _jump_builder(op.JGE, op.JMP, "jge", "if dst >= src goto target (unsigned, 64-bit).")
    jlt = _jump_builder(op.JLT, op.JMP, "jlt", "if dst < src goto target (unsigned, 64-bit).")
    jle = _jump_builder(op.JLE, op.JMP, "jle", "if dst <= src goto target (unsigned, 64-bit).")
    jsgt = _jump_builder(op.JSGT, op.JMP, "jsgt", "if dst s> src goto target (signed, 64-bit).")
    jsge = _jump_builder(op.JSGE, op.JMP, "jsge", "if dst s>= src goto target (signed, 64-bit).")
    jslt = _jump_builder(op.JSLT, op.JMP, "jslt", "if dst s< src goto target (signed, 64-bit).")
    jsle = _jump_builder(op.JSLE, op.JMP, "jsle", "if dst s<= src goto target (signed, 64-bit).")
    jset = _jump_builder(op.JSET, op.JMP, "jset", "if dst & src goto target (64-bit).")
    jeq32 = _jump_builder(op.JEQ, op.JMP32, "jeq32", "if wdst == src goto target (32-bit).")
    jne32 = _jump_builder(op.JNE, op.JMP32, "jne32", "if wdst != src goto target (32-bit).")
    jgt32 = _jump_builder(op.JGT, op.JMP32, "jgt32", "if wdst > src goto target (unsigned).")
    jge32 = _jump_builder(op.JGE, op.JMP32, "jge32", "if wdst >= src goto target (unsigned).")
    jlt32 = _jump_builder(op.JLT, op.JMP32, "jlt32", "if wdst < src goto target (unsigned).")
    jle32 = _jump_builder(op.JLE, op.JMP32, "jle32", "if wdst <= src goto target (unsigned).")
    jsgt32 = _jump_builder(op.JSGT, op.JMP32, "jsgt32", "if wdst s> src goto target (signed).")
    jsge32 = _jump_builder(op.JSGE, op.JMP32, "jsge32", "if wdst s>= src goto target (signed).")
    jslt32 = _jump_builder(op.JSLT, op.JMP32, "jslt32", "if wdst s< src goto target (signed).")
    jsle32 = _jump_builder(op.JSLE, op.JMP32, "jsle32", "if wdst s<= src goto target (signed).")
    jset32 = _jump_builder(op.JSET, op.JMP32, "jset32", "if wdst & src goto target (32-bit).")

    def ja(self, target: Target, *, comment: str = "") -> Assembler:
        """goto target (16-bit offset in slots)."""
        label, off = self._target(target)
        return self._emit(Instruction(op.JMP | op.JA, 0, 0, off, 0, label, None, comment))

    jmp = ja

    def gotol(self, target: Target, *, comment: str = "") -> Assembler:
        """goto target with a 32-bit offset (``BPF_JMP32 | BPF_JA``, cpu v4, kernel 6.6+)."""
        label, off = self._target(target)
        return self._emit(Instruction(op.JMP32 | op.JA, 0, 0, 0, off, label, None, comment))

    def call(self, helper: str | int, *, comment: str = "") -> Assembler:
        """Call a kernel helper by name (``"map_lookup_elem"``, ``"bpf_..."`` too) or by id."""
        imm = helper_id(helper)
        return self._emit(Instruction(op.JMP | op.CALL, 0, 0, 0, imm, comment=comment))

    def call_local(self, target: Target, *, comment: str = "") -> Assembler:
        """Call the BPF subprogram at label ``target`` (a bpf-to-bpf call)."""
        label, off = self._target(target)
        insn = Instruction(op.JMP | op.CALL, 0, op.PSEUDO_CALL, 0, off, label, None, comment)
        return self._emit(insn)

    def exit(self, *, comment: str = "") -> Assembler:
        """Return r0 to the caller."""
        return self._emit(Instruction(op.JMP | op.EXIT, comment=comment))

    # ------------------------------------------------------------------ loads and stores

    def ldx(
        self, size: Size, dst: Register, src: Register, off: int = 0, *, comment: str = ""
    ) -> Assembler:
        """dst = *(size *)(src + off), zero-extended."""
        opcode = op.LDX | op.MEM | _size(size)
        regs = _register(dst, "dst"), _register(src, "src")
        return self._emit(Instruction(opcode, *regs, _immediate(off, "offset"), comment=comment))

    def ldxsx(
        self, size: Size, dst: Register, src: Register, off: int = 0, *, comment: str = ""
    ) -> Assembler:
        """dst = *(s<size> *)(src + off), sign-extended (B, H or W; cpu v4, kernel 6.6+)."""
        if _size(size) == Size.DW:
            raise ValueError("ldxsx loads B, H or W (a 64-bit load needs no sign extension)")
        opcode = op.LDX | op.MEMSX | size
        regs = _register(dst, "dst"), _register(src, "src")
        return self._emit(Instruction(opcode, *regs, _immediate(off, "offset"), comment=comment))

    def stx(
        self, size: Size, dst: Register, off: int, src: Register, *, comment: str = ""
    ) -> Assembler:
        """*(size *)(dst + off) = src."""
        opcode = op.STX | op.MEM | _size(size)
        regs = _register(dst, "dst"), _register(src, "src")
        return self._emit(Instruction(opcode, *regs, _immediate(off, "offset"), comment=comment))

    def st(self, size: Size, dst: Register, off: int, imm: int, *, comment: str = "") -> Assembler:
        """*(size *)(dst + off) = imm."""
        opcode = op.ST | op.MEM | _size(size)
        dst_reg = _register(dst, "dst")
        off = _immediate(off, "offset")
        return self._emit(Instruction(opcode, dst_reg, 0, off, _immediate(imm), comment=comment))

    def _atomic(
        self, size: Size, dst: Register, off: int, src: Register, imm: int, comment: str
    ) -> Assembler:
        if _size(size) not in (Size.W, Size.DW):
            raise ValueError(f"atomic operations are W or DW wide, not {size}")
        opcode = op.STX | op.ATOMIC | size
        regs = _register(dst, "dst"), _register(src, "src")
        off = _immediate(off, "offset")
        return self._emit(Instruction(opcode, *regs, off, imm, comment=comment))

    def atomic_add(
        self,
        size: Size,
        dst: Register,
        off: int,
        src: Register,
        *,
        fetch: bool = False,
        comment: str = "",
    ) -> Assembler:
        """lock *(size *)(dst + off) += src; with ``fetch`` src receives the old value."""
        return self._atomic(size, dst, off, src, op.ADD | (op.FETCH if fetch else 0), comment)

    def atomic_or(
        self,
        size: Size,
        dst: Register,
        off: int,
        src: Register,
        *,
        fetch: bool = False,
        comment: str = "",
    ) -> Assembler:
        """lock *(size *)(dst + off) |= src; with ``fetch`` src receives the old value."""
        return self._atomic(size, dst, off, src, op.OR | (op.FETCH if fetch else 0), comment)

    def atomic_and(
        self,
        size: Size,
        dst: Register,
        off: int,
        src: Register,
        *,
        fetch: bool = False,
        comment: str = "",
    ) -> Assembler:
        """lock *(size *)(dst + off) &= src; with ``fetch`` src receives the old value."""
        return self._atomic(size, dst, off, src, op.AND | (op.FETCH if fetch else 0), comment)

    def atomic_xor(
        self,
        size: Size,
        dst: Register,
        off: int,
        src: Register,
        *,
        fetch: bool = False,
        comment: str = "",
    ) -> Assembler:
        """lock *(size *)(dst + off) ^= src; with ``fetch`` src receives the old value."""
        return self._atomic(size, dst, off, src, op.XOR | (op.FETCH if fetch else 0), comment)

    def xchg(
        self, size: Size, dst: Register, off: int, src: Register, *, comment: str = ""
    ) -> Assembler:
        """src = atomic exchange of *(size *)(dst + off) with src."""
        return self._atomic(size, dst, off, src, op.XCHG, comment)

    def cmpxchg(
        self, size: Size, dst: Register, off: int, src: Register, *, comment: str = ""
    ) -> Assembler:
        """r0 = old *(size *)(dst + off); if it equalled r0 it is replaced by src."""
        return self._atomic(size, dst, off, src, op.CMPXCHG, comment)

    atomic_xchg = xchg
    atomic_cmpxchg = cmpxchg

    def ld_imm64(self, dst: Register, value: int, *, comment: str = "") -> Assembler:
        """dst = value (any 64-bit constant; takes two slots)."""
        imm = _immediate(value, "value")
        return self._emit(
            Instruction(op.LD_IMM64, _register(dst, "dst"), 0, 0, imm, comment=comment)
        )

    lddw = ld_imm64

    def _ld_map(
        self, dst: Register, ref: MapRef, pseudo: int, offset: int, comment: str
    ) -> Assembler:
        if isinstance(ref, str):
            name: str | None = ref
        elif hasattr(ref, "fd"):
            name = getattr(ref, "name", None) or None
        else:
            raise TypeError(f"a map is an object with .fd or a str name, got {ref!r}")
        if not 0 <= offset < 2**32:
            raise ValueError(f"map value offset {offset} does not fit in 32 unsigned bits")
        # The fd is filled in at assemble time: objects are asked for .fd then, names looked up.
        dst_reg = _register(dst, "dst")
        self._map_refs[len(self._insns)] = ref
        return self._emit(
            Instruction(op.LD_IMM64, dst_reg, pseudo, 0, offset << 32, None, name, comment)
        )

    def ld_map_fd(self, dst: Register, map: MapRef, *, comment: str = "") -> Assembler:
        """dst = the map (``BPF_PSEUDO_MAP_FD``): an object with ``.fd`` or a name for ``maps=``."""
        return self._ld_map(dst, map, op.PSEUDO_MAP_FD, 0, comment)

    def ld_map_value(
        self, dst: Register, map: MapRef, offset: int = 0, *, comment: str = ""
    ) -> Assembler:
        """dst = &value[0] + offset of an array map (``BPF_PSEUDO_MAP_VALUE``)."""
        return self._ld_map(dst, map, op.PSEUDO_MAP_VALUE, _immediate(offset, "offset"), comment)

    def ld_func(self, dst: Register, target: str, *, comment: str = "") -> Assembler:
        """dst = the subprogram at label ``target`` (``BPF_PSEUDO_FUNC``, callbacks of bpf_loop).

        The kernel accepts callbacks only with BTF func_info for the program's subprograms.
        """
        dst_reg = _register(dst, "dst")
        return self._emit(
            Instruction(op.LD_IMM64, dst_reg, op.PSEUDO_FUNC, 0, 0, target, None, comment)
        )

    # ------------------------------------------------------------------ conveniences

    def stack_pointer(self, dst: Register, offset: int, *, comment: str = "") -> Assembler:
        """dst = r10 + offset: a pointer into this program's stack (offset < 0)."""
        self.mov(dst, op.R10, comment=comment)
        return self.add(dst, offset)

    def zero_stack(self, offset: int, size: int, *, comment: str = "") -> Assembler:
        """Zero ``size`` bytes of stack at r10 + offset (the verifier wants keys initialised).

        Uses the widest stores the alignment allows, so 8-aligned regions take size/8 stores.
        """
        if offset >= 0 or offset + size > 0 or size <= 0:
            raise ValueError(f"stack region r10{offset:+d}, {size} bytes, is not below r10")
        end = offset + size
        pos = offset
        first = True
        while pos < end:
            for width in (Size.DW, Size.W, Size.H, Size.B):
                if pos % width.bytes == 0 and pos + width.bytes <= end:
                    break
            self.st(width, op.R10, pos, 0, comment=comment if first else "")
            first = False
            pos += width.bytes
        return self

    def lookup_or_jump(
        self, map: MapRef, key_offset: int, missing: Target, *, comment: str = ""
    ) -> Assembler:
        """r0 = bpf_map_lookup_elem(map, r10 + key_offset); if r0 is NULL goto ``missing``.

        The key must already be on the stack at r10 + key_offset. Clobbers r1-r5 (a call).
        """
        self.ld_map_fd(op.R1, map, comment=comment)
        self.stack_pointer(op.R2, key_offset)
        self.call("map_lookup_elem")
        return self.jeq(op.R0, 0, missing)

    def ret(self, value: Source, *, comment: str = "") -> Assembler:
        """r0 = value; exit."""
        self.mov(op.R0, value, comment=comment)
        return self.exit()

    # ------------------------------------------------------------------ assembly

    def map_references(self) -> dict[str, list[int]]:
        """Each map name referenced by name (not by object) and the slots that load it."""
        refs: dict[str, list[int]] = {}
        slot = 0
        for index, insn in enumerate(self._insns):
            ref = self._map_refs.get(index)
            if isinstance(ref, str):
                refs.setdefault(ref, []).append(slot)
            slot += insn.slots
        return refs

    def instructions(self, maps: Mapping[str, Any] | None = None) -> list[Instruction]:
        """The program with labels resolved to offsets and map fds filled in.

        ``maps`` maps names to fds (ints) or to objects with ``.fd``. Raises
        :class:`UnknownLabelError`, :class:`JumpRangeError` or :class:`MissingMapError`.
        """
        return self._resolve(maps or {}, strict=True)

    def assemble(self, maps: Mapping[str, Any] | None = None) -> bytes:
        """The program's bytes for ``BPF_PROG_LOAD`` (see :meth:`instructions`)."""
        return b"".join(insn.encode() for insn in self._resolve(maps or {}, strict=True))

    def _resolve(self, maps: Mapping[str, Any], strict: bool) -> list[Instruction]:
        starts, _ = self._slot_starts()
        label_slots = self.labels
        out = []
        for index, insn in enumerate(self._insns):
            if insn.target is not None:
                insn = self._resolve_target(insn, starts[index], label_slots, strict)
            if index in self._map_refs:
                insn = self._resolve_map(insn, starts[index], self._map_refs[index], maps, strict)
            out.append(insn)
        return out

    def _resolve_target(
        self, insn: Instruction, at: int, label_slots: dict[str, int], strict: bool
    ) -> Instruction:
        name = insn.target
        assert name is not None
        if name not in label_slots:
            if not strict:
                return Instruction(
                    insn.opcode, insn.dst, insn.src, insn.off, insn.imm,
                    f"{name}?", insn.map_name, insn.comment,
                )  # fmt: skip
            known = ", ".join(sorted(label_slots)) or "none"
            raise UnknownLabelError(
                f"slot {at}: {insn} jumps to unknown label {name!r} (labels defined: {known})\n"
                + self.listing(around=at)
            )
        delta = label_slots[name] - (at + 1)
        # ja32 (gotol), local calls and ld_func carry the offset in imm; jumps in off.
        in_imm = insn.opcode in (op.JMP32 | op.JA, op.LD_IMM64) or insn.opcode == op.JMP | op.CALL
        low, high = INT32 if in_imm else INT16
        if not low <= delta <= high:
            if not strict:
                delta = 0
            else:
                hint = " (use gotol for a 32-bit jump)" if not in_imm else ""
                raise JumpRangeError(
                    f"slot {at}: jump to {name!r} is {delta} slots away, beyond the "
                    f"{'32' if in_imm else '16'}-bit offset field{hint}"
                )
        if in_imm:
            return Instruction(
                insn.opcode, insn.dst, insn.src, insn.off, delta, name, insn.map_name, insn.comment
            )
        return Instruction(
            insn.opcode, insn.dst, insn.src, delta, insn.imm, name, insn.map_name, insn.comment
        )

    def _resolve_map(
        self, insn: Instruction, at: int, ref: MapRef, maps: Mapping[str, Any], strict: bool
    ) -> Instruction:
        found: Any = ref
        if isinstance(ref, str):
            found = maps.get(ref)
            if found is None:
                if not strict:
                    return insn
                known = ", ".join(sorted(maps)) or "none"
                raise MissingMapError(
                    f"slot {at}: {insn} refers to map {ref!r}, which assemble(maps=...) does "
                    f"not provide (given: {known}); pass maps={{{ref!r}: fd}} or the map object"
                )
        try:
            fd = found if isinstance(found, int) else getattr(found, "fd", None)
        except ValueError:  # a closed map object refuses to give its fd
            fd = None
        if not isinstance(fd, int) or isinstance(fd, bool) or not 0 <= fd < 2**31:
            if not strict:
                return insn
            raise MissingMapError(f"slot {at}: map {insn.map_name!r} has no open fd ({fd!r})")
        imm = (insn.imm & ~0xFFFFFFFF) | fd
        return Instruction(
            insn.opcode, insn.dst, insn.src, insn.off, imm, insn.target, insn.map_name, insn.comment
        )

    # ------------------------------------------------------------------ listing

    def listing(
        self,
        around: int | None = None,
        context: int = 3,
        maps: Mapping[str, Any] | None = None,
    ) -> str:
        """The program as text, one line per instruction: slot, (opcode), text, ; comment.

        Labels get a line of their own (``name:``). With ``around`` only the instructions within
        ``context`` slots of that slot are shown and the one at ``around`` is marked with ``>``
        (for verifier errors, which name a slot). Never raises for unknown labels or maps.
        """
        insns = self._resolve(maps or {}, strict=False)
        labels_at: dict[int, list[str]] = {}
        for name, index in self._labels.items():
            labels_at.setdefault(index, []).append(name)
        return format_listing(insns, labels_at, around=around, context=context)


def format_listing(
    insns: list[Instruction],
    labels_at: Mapping[int, list[str]] | None = None,
    around: int | None = None,
    context: int = 3,
) -> str:
    """Format ``insns`` as a listing (see :meth:`Assembler.listing`); labels by index."""
    labels_at = labels_at or {}
    lines = []
    slot = 0
    for index, insn in enumerate(insns):
        start, slot = slot, slot + insn.slots
        if around is not None and not (start - context <= around <= slot - 1 + context):
            continue
        lines.extend(f"{name}:" for name in labels_at.get(index, ()))
        mark = ">" if around is not None and start <= around < slot else " "
        text = f"{mark}{start:4d}: ({insn.opcode:02x}) {insn}"
        if insn.comment:
            text = f"{text:<50} ; {insn.comment}"
        lines.append(text)
    if around is None or around >= slot - context:
        lines.extend(f"{name}:" for name in labels_at.get(len(insns), ()))
    return "\n".join(lines)
