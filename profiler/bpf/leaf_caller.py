"""The caller a frame-pointer walk skips: of a frameless leaf, or of a sample in a prologue or
epilogue (x86-64).

``bpf_get_stackid`` starts the user stack with the sampled ``ip`` and then follows ``rbp``. When
the sampled function has not set up its frame (a leaf that GCC compiles without one even with
``-fno-omit-frame-pointer``, or any function before ``mov %rsp,%rbp`` / after ``pop %rbp``),
``rbp`` is still its caller's, so the walk's first return address is the caller's caller: the
caller itself is missing from every such sample. Its return address is then on top of the stack
(``[sp]``, or ``[sp+8]`` after ``push %rbp``).

The program reads those two words and keeps the first that is provably a return address into a
call of the sampled function: the bytes before it are a ``call rel32`` whose target (directly, or
through a PLT entry or a ``call *disp(%rip)`` slot) starts at most :data:`MAX_FUNCTION_BYTES`
before ``ip``. Random stack contents pass this test with negligible odds, and a word that passes
is the same for every sample of that call site, so the counts map's keys stay few. User space
(:func:`insert_leaf_caller`) puts it after the leaf unless the walk already has it (a function
that did set up its frame). Calls through a register or memory other than a rip-relative slot
(virtual calls, function pointers) cannot be checked and keep their hole.
"""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, R2, R3, R10, Assembler, B, H, Register, W

# How far below the call's target the sampled ip may be: the size of one function.
MAX_FUNCTION_BYTES = 1 << 18
# User addresses below this are never code (the first pages are not mappable by default).
_LOWEST_CODE = 1 << 16
_CALL_REL32 = 0xE8  # call rel32: e8 <rel32>, 5 bytes before the return address
_CALL_RIP_SLOT = 0x15FF  # call *disp32(%rip): ff 15 <disp32>, 6 bytes before (little endian)
_JMP_RIP_SLOT = 0x25FF  # a PLT entry: jmp *disp32(%rip) (ff 25), 6 bytes long
# f3 0f 1e fa (endbr64), as a signed 32-bit immediate: the .plt.sec entries of IBT builds
# start with it.
_ENDBR64 = 0xFA1E0FF3 - (1 << 32)
_BND_JMP = 0xF2  # bnd jmp *disp32(%rip): f2 ff 25


def _jump_slot(
    a: Assembler, target: Register, code_off: int, disp_at: int, length: int, then: str
) -> None:
    """Emit: ``target`` (a PLT entry's address) becomes the GOT slot its ``jmp *disp(%rip)``
    reads: the entry + the jump's end (``length`` bytes in) + the disp32 at ``disp_at``; then
    go to ``then``."""
    _load_s32(a, R2, code_off, disp_at)
    a.add(target, length)
    a.add(target, R2, comment="the GOT slot of jmp *disp(%rip)")
    a.ja(then)


def _load_s32(a: Assembler, dst: Register, base_off: int, at: int) -> None:
    """``dst = (s64) *(s32 *)(r10 + base_off + at)``; unaligned stack words are put together
    from bytes (the verifier wants aligned stack access)."""
    off = base_off + at
    if off % 4 == 0:
        a.ldx(W, dst, R10, off)
    else:
        a.ldx(B, dst, R10, off + 3)
        for i in (2, 1, 0):
            a.lsh(dst, 8)
            a.ldx(B, R1, R10, off + i)
            a.or_(dst, R1)
    a.lsh(dst, 32)
    a.arsh(dst, 32)


def emit_leaf_caller(
    a: Assembler,
    *,
    regs: dict[str, int],
    out_off: int,
    words_off: int,
    code_off: int,
    ip: Register,
    candidate: Register,
    target: Register,
) -> None:
    """Emit: ``*(u64 *)(r10 + out_off)`` = the skipped caller's return address, or left as is
    (zero) when there is none.

    ``regs``: offsets of ``ip`` and ``sp`` in ``struct pt_regs``; ``words_off``/``code_off``:
    16-byte scratch areas on the program's stack; ``ip``, ``candidate``, ``target``: three
    callee-saved registers the code may use (r6-r9). Clobbers r0-r5 too.
    """
    n = len(a)
    done, found = f"leaf_done_{n}", f"leaf_found_{n}"
    a.call("get_current_task_btf")
    a.mov(R1, R0)
    a.call("task_pt_regs", comment="the user registers, also when the sample hit the kernel")
    a.ldx(DW, ip, R0, regs["ip"])
    a.ldx(DW, R3, R0, regs["sp"])
    a.mov(R1, R10)
    a.add(R1, words_off)
    a.mov(R2, 16)
    a.call("probe_read_user", comment="[sp] and [sp+8]")
    a.jne(R0, 0, done)
    for word in (0, 1):
        next_word = f"leaf_next_{n}_{word}"
        slot, read_slot = f"leaf_slot_{n}_{word}", f"leaf_read_slot_{n}_{word}"
        a.ldx(DW, candidate, R10, words_off + 8 * word)
        a.jlt(candidate, _LOWEST_CODE, next_word)
        a.mov(R1, candidate)
        a.rsh(R1, 47)
        a.jne(R1, 0, next_word, comment="not a user-space address")
        # The 8 bytes before the candidate: a call instruction ends there if it is a return address.
        a.mov(R1, R10)
        a.add(R1, code_off)
        a.mov(R2, 8)
        a.mov(R3, candidate)
        a.sub(R3, 8)
        a.call("probe_read_user")
        a.jne(R0, 0, next_word)
        a.ldx(B, R1, R10, code_off + 3)
        a.jne(R1, _CALL_REL32, slot)
        _load_s32(a, target, code_off, 4)
        a.add(target, candidate, comment="the call's target")
        a.mov(R1, ip)
        a.sub(R1, target)
        a.jlt(R1, MAX_FUNCTION_BYTES, found, comment="the call went to the sampled function")
        # Or to a PLT entry that jumps through a GOT slot to it.
        a.mov(R1, R10)
        a.add(R1, code_off)
        a.mov(R2, 16)
        a.mov(R3, target)
        a.call("probe_read_user")
        a.jne(R0, 0, next_word)
        plt_ibt, plt_bnd = f"leaf_plt_ibt_{n}_{word}", f"leaf_plt_bnd_{n}_{word}"
        a.ldx(H, R1, R10, code_off)
        a.jne(R1, _JMP_RIP_SLOT, plt_ibt)
        _jump_slot(a, target, code_off, 2, 6, read_slot)
        a.label(plt_ibt)
        a.ldx(W, R1, R10, code_off)
        a.jne32(R1, _ENDBR64, next_word)
        a.ldx(H, R1, R10, code_off + 4)
        a.jne(R1, _JMP_RIP_SLOT, plt_bnd)
        _jump_slot(a, target, code_off, 6, 10, read_slot)
        a.label(plt_bnd)
        a.ldx(B, R1, R10, code_off + 4)
        a.jne(R1, _BND_JMP, next_word)
        for at, byte in ((5, _JMP_RIP_SLOT & 0xFF), (6, _JMP_RIP_SLOT >> 8)):
            a.ldx(B, R1, R10, code_off + at)  # byte loads: code_off + 5 is not 2-aligned
            a.jne(R1, byte, next_word)
        _jump_slot(a, target, code_off, 7, 11, read_slot)
        # call *disp32(%rip): the slot is relative to the return address.
        a.label(slot)
        a.ldx(H, R1, R10, code_off + 2)
        a.jne(R1, _CALL_RIP_SLOT, next_word)
        _load_s32(a, target, code_off, 4)
        a.add(target, candidate)
        a.label(read_slot)
        a.mov(R1, R10)
        a.add(R1, code_off)
        a.mov(R2, 8)
        a.mov(R3, target)
        a.call("probe_read_user", comment="the function the slot points to")
        a.jne(R0, 0, next_word)
        a.ldx(DW, target, R10, code_off)
        a.mov(R1, ip)
        a.sub(R1, target)
        a.jlt(R1, MAX_FUNCTION_BYTES, found)
        a.label(next_word)
    a.ja(done)
    a.label(found)
    a.stx(DW, R10, out_off, candidate)
    a.label(done)


def insert_leaf_caller(stack: tuple[int, ...], caller: int) -> tuple[int, ...]:
    """``stack`` (leaf first) with the skipped caller's return address after the leaf, unless
    the frame-pointer walk already has it (the sampled function had set up its frame)."""
    if not caller or not stack or (len(stack) > 1 and stack[1] == caller):
        return stack
    return (stack[0], caller, *stack[1:])
