"""The in-kernel CPython frame walk (pybpf DSL) and its maps, shared by the CPU and off-CPU
programs.

A program calls the subprogram :func:`emit_python_walk` emits (a bpf-to-bpf call, see
:func:`emit_python_call`). It looks the current thread up in ``py_threads`` (kernel tid ->
``PyThreadState`` address and layout id, kept by user space from each interpreter's thread
list, see :mod:`profiler.python.threads`), reads the layout's offsets from ``py_layouts`` (one
entry per interpreter layout), and walks the frame chain from the thread's current frame: per
frame one 80-byte read of the frame and one 4-byte read of its code object's first line. Frames
are stored leaf first as :class:`~.python_layouts.PyFrame` ``{code, instruction offset, word}``
(see ``RUN_END``): a run ends at 3.11's ``is_entry`` frames and, from 3.12, before an entry
frame owned by the C stack (which is skipped).

In-kernel aggregation, as for native stacks: the walk hashes what it stored (seeded at load
time, mixed with the tgid) and puts the frames in the ``py_stacks`` hash map under
``{hash, tgid}`` unless they are there already; the caller's key carries the 64-bit id (the hash
and the thread's GIL/GC bits; 0: not a Python thread). User space reads each distinct stack
once per drain (:mod:`.python_stacks`).

Bounded: at most ``MAX_FRAMES`` frames stored and ``MAX_STEPS`` visited; deeper stacks are cut
(the outermost frames are lost) and counted, as are failed reads and a full ``py_stacks`` map,
in the per-CPU ``py_stats`` array. All state of the loop lives in the per-CPU scratch value
(``py_scratch``), so the verifier sees one loop counter and checks the body once per iteration.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass

from pybpf.asm import DW, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, Assembler, B, W
from pybpf.maps import BPF_F_NO_PREALLOC, MapSpec, MapType

from .python_layouts import (
    FIRST_LINE_MASK,
    FLAG_CUT,
    FLAG_READ_ERROR,
    FRAME_READ,
    HASH_MASK,
    MAX_FRAMES,
    MAX_LAYOUTS,
    MAX_STEPS,
    NONE,
    RUN_END,
    STATE_GC,
    STATE_GIL,
    STATE_KNOWN,
    PyFrame,
    PyStat,
    Scratch,
    StackKey,
    StackValue,
    ThreadEntry,
    WalkLayout,
)
from .stat_counters import emit_count_stat

# Offsets in the layouts (see :mod:`.python_layouts`).
T_TSTATE = ThreadEntry.offset_of("tstate")
T_LAYOUT = ThreadEntry.offset_of("layout_id")
T_TGID = ThreadEntry.offset_of("tgid")
T_GIL = ThreadEntry.offset_of("gil")
T_GC = ThreadEntry.offset_of("gc")
L_TSTATE_FRAME = WalkLayout.offset_of("tstate_frame")
L_CFRAME_CURRENT = WalkLayout.offset_of("cframe_current")
L_CODE = WalkLayout.offset_of("code")
L_PREVIOUS = WalkLayout.offset_of("previous")
L_INSTR = WalkLayout.offset_of("instr")
L_OWNER = WalkLayout.offset_of("owner")
L_IS_ENTRY = WalkLayout.offset_of("is_entry")
L_OWNER_CSTACK = WalkLayout.offset_of("owner_cstack")
L_OWNER_SKIP = WalkLayout.offset_of("owner_skip")
L_CODE_ADAPTIVE = WalkLayout.offset_of("code_adaptive")
L_FIRSTLINENO = WalkLayout.offset_of("firstlineno")
L_CODE_MASK = WalkLayout.offset_of("code_mask")
F_CODE = PyFrame.offset_of("code")
F_OFFSET = PyFrame.offset_of("offset")
F_WORD = PyFrame.offset_of("word")
FRAME_SHIFT = 4  # log2(PyFrame.size): a slot's offset is its index shifted
VAL_COUNT = StackValue.offset_of("count")
VAL_FLAGS = StackValue.offset_of("flags")
VAL_FRAMES = StackValue.offset_of("frames")
SCR_HASH = Scratch.offset_of("hash")
SCR_PTR = Scratch.offset_of("ptr")
SCR_FRAME = Scratch.offset_of("frame")
K_HASH = StackKey.offset_of("hash")
K_TGID = StackKey.offset_of("tgid")
K_PAD = StackKey.offset_of("pad")
assert PyFrame.size == 1 << FRAME_SHIFT and Scratch.offset_of("value") == 0

# 64-bit FNV prime: each step h = (h ^ word) * prime is a bijection of h for a given word, so
# two stacks of equal length that differ collide only by chance (1 in 2^64).
_PRIME = 0x100000001B3
_BOUNDARY = 0x9E3779B97F4A7C15  # mixed in where a run of frames ends at a C-stack entry frame
BPF_NOEXIST = 1


def check_layout(layout: WalkLayout) -> None:
    """Raise ``ValueError`` if the walk cannot use ``layout`` (a frame field past the
    ``FRAME_READ`` bytes it reads of each frame; the program also checks, and stops there)."""
    for name in ("code", "previous", "instr"):
        if getattr(layout, name) > FRAME_READ - 8:
            raise ValueError(f"frame field {name} at {getattr(layout, name)} is past {FRAME_READ}")
    for name in ("owner", "is_entry"):
        value = getattr(layout, name)
        if value != NONE and value > FRAME_READ - 1:
            raise ValueError(f"frame field {name} at {value} is past {FRAME_READ}")


def map_specs(max_threads: int = 65536, max_stacks: int = 8192) -> dict[str, MapSpec]:
    """The walk's map specs (plain data), by role."""
    return {
        "threads": MapSpec("pp_py_threads", MapType.HASH, 4, ThreadEntry.size, max_threads),
        "layouts": MapSpec("pp_py_layouts", MapType.ARRAY, 4, WalkLayout.size, MAX_LAYOUTS),
        "scratch": MapSpec("pp_py_scratch", MapType.PERCPU_ARRAY, 4, Scratch.size, 1),
        # Allocated on demand: most of 8192 × 2 KiB is never used.
        "stacks": MapSpec(
            "pp_py_stacks",
            MapType.HASH,
            StackKey.size,
            StackValue.size,
            max_stacks,
            flags=BPF_F_NO_PREALLOC,
        ),
        "stats": MapSpec("pp_py_stats", MapType.PERCPU_ARRAY, 4, 8, len(PyStat)),
    }


@dataclass(frozen=True)
class PythonMaps:
    """The live maps of the walk (objects with ``.fd``) and the hash seed of this load."""

    threads: object
    layouts: object
    scratch: object
    stacks: object
    stats: object
    seed: int

    @classmethod
    def create(cls, max_stacks: int, create: Callable[[MapSpec], object]) -> PythonMaps:
        """Create the maps with ``create(spec)`` (the caller's: it owns and closes them)."""
        made = {role: create(spec) for role, spec in map_specs(max_stacks=max_stacks).items()}
        return cls(seed=int.from_bytes(os.urandom(8), "little"), **made)


def emit_python_call(a: Assembler, pid_tgid: object, out_offset: int) -> None:
    """Emit the call of the walk: ``*(u64 *)(r10 + out_offset) = py_walk(pid_tgid)``.

    Clobbers r0-r5 (a call); r6-r9 are the caller's and kept.
    """
    a.mov(R1, pid_tgid)
    a.call_local("py_walk", comment="Python frames of this thread: a py_stacks id or 0")
    a.stx(DW, R10, out_offset, R0)


# The subprogram's stack (offsets from its own r10).
_S_KEY = -4  # u32 map key
_S_STAT = -8  # u32 stat slot
_S_STACK_KEY = -8 - StackKey.size  # a StackKey
_S_TGID = _S_STACK_KEY - 8  # u64
_S_STATE = _S_TGID - 8  # u64: STATE_* bits
_S_BUF = _S_STATE - 16  # 16 bytes: the GIL's last_holder and locked


def _field(
    a: Assembler, offset_field: int, size: object, dst: object, limit: int, bad: str
) -> None:
    """Emit ``dst = *(size *)(frame bytes + layout[offset_field])`` (bounds checked).

    Expects r8 = layout, r9 = scratch. Clobbers r1, r2.
    """
    a.ldx(W, R1, R8, offset_field)
    a.jgt(R1, limit, bad)
    a.mov(R2, R9)
    a.add(R2, SCR_FRAME)
    a.add(R2, R1)
    a.ldx(size, dst, R2, 0)


def _read_user(a: Assembler, dst_offset: int, size: int, src: object) -> None:
    """Emit ``r0 = probe_read_user(scratch + dst_offset, size, src)`` (r9 = scratch)."""
    if src != R3:
        a.mov(R3, src)
    a.mov(R1, R9)
    a.add(R1, dst_offset)
    a.mov(R2, size)
    a.call("probe_read_user")


def _mix(a: Assembler, value: object) -> None:
    """Emit ``scratch.hash = (scratch.hash ^ value) * PRIME``. Clobbers r0, r5."""
    a.ldx(DW, R0, R9, SCR_HASH)
    a.xor(R0, value)
    a.ld_imm64(R5, _PRIME)
    a.mul(R0, R5)
    a.stx(DW, R9, SCR_HASH, R0)


def _slot(a: Assembler, back: int = 0) -> None:
    """Emit ``r4 = &scratch.value.frames[count - back]`` (masked: the verifier wants bounds).

    Clobbers r1.
    """
    a.ldx(W, R1, R9, VAL_COUNT)
    if back:
        a.sub(R1, back)
    a.and_(R1, MAX_FRAMES - 1)
    a.lsh(R1, FRAME_SHIFT)
    a.mov(R4, R9)
    a.add(R4, VAL_FRAMES)
    a.add(R4, R1)


def _thread_state(a: Assembler) -> None:
    """Emit: ``_S_STATE`` = the GIL and GC bits. Expects r7 = tstate, r8 = &gil->last_holder,
    r9 = &gc.collecting (0 when unknown). Clobbers r0-r5, r8, r9."""
    a.jeq(R8, 0, "py_state_gc")
    a.mov(R1, R10)
    a.add(R1, _S_BUF)
    a.mov(R2, 16)
    a.mov(R3, R8)
    a.call("probe_read_user")
    a.jne(R0, 0, "py_state_gc")
    a.ld_imm64(R8, STATE_KNOWN)
    a.ldx(W, R1, R10, _S_BUF + 8, comment="gil->locked")
    a.jeq(R1, 0, "py_state_store")
    a.ldx(DW, R1, R10, _S_BUF, comment="gil->last_holder")
    a.jne(R1, R7, "py_state_store")
    a.ld_imm64(R1, STATE_GIL)
    a.or_(R8, R1)
    a.label("py_state_store")
    a.stx(DW, R10, _S_STATE, R8)
    a.label("py_state_gc")
    a.jeq(R9, 0, "py_state_done")
    a.mov(R1, R10)
    a.add(R1, _S_BUF)
    a.mov(R2, 4)
    a.mov(R3, R9)
    a.call("probe_read_user")
    a.jne(R0, 0, "py_state_done")
    a.ldx(W, R1, R10, _S_BUF)
    a.jeq(R1, 0, "py_state_done")
    a.ldx(DW, R1, R10, _S_STATE)
    a.ld_imm64(R2, STATE_GC)
    a.or_(R1, R2)
    a.stx(DW, R10, _S_STATE, R1)
    a.label("py_state_done")


def emit_python_walk(a: Assembler, maps: PythonMaps) -> None:
    """Emit the subprogram ``py_walk`` (label): r1 = pid_tgid in, r0 = stack id (0: none) out.

    Put it after the main program's last exit (it is reached only by ``call_local``).
    """

    def stat(slot: PyStat) -> None:
        emit_count_stat(a, maps.stats, slot, _S_STAT)

    a.label("py_walk")
    a.st(DW, R10, _S_STATE, 0)
    a.mov(R6, R1, comment="r6 = pid_tgid (then: the step counter)")
    a.stx(W, R10, _S_KEY, R6, comment="key: tid")
    a.mov(R1, R6)
    a.rsh(R1, 32)
    a.stx(DW, R10, _S_TGID, R1)
    a.ld_map_fd(R1, maps.threads)
    a.mov(R2, R10)
    a.add(R2, _S_KEY)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, "py_none", comment="not a Python thread we know")
    a.ldx(W, R1, R0, T_TGID)
    a.ldx(DW, R2, R10, _S_TGID)
    a.jne(R1, R2, "py_none", comment="the tid now belongs to another process")
    a.ldx(DW, R7, R0, T_TSTATE, comment="r7 = PyThreadState *")
    a.ldx(W, R1, R0, T_LAYOUT)
    a.stx(W, R10, _S_KEY, R1, comment="key: layout id")
    a.ldx(DW, R8, R0, T_GIL, comment="r8 = &gil->last_holder (or 0)")
    a.ldx(DW, R9, R0, T_GC, comment="r9 = &gc->collecting (or 0)")
    _thread_state(a)
    stat(PyStat.WALKS)
    a.ld_map_fd(R1, maps.layouts)
    a.mov(R2, R10)
    a.add(R2, _S_KEY)
    a.call("map_lookup_elem")
    a.jne(R0, 0, "py_layout")
    stat(PyStat.NO_LAYOUT)
    a.ja("py_none")
    a.label("py_layout")
    a.mov(R8, R0, comment="r8 = layout")
    a.st(W, R10, _S_KEY, 0)
    a.ld_map_fd(R1, maps.scratch)
    a.mov(R2, R10)
    a.add(R2, _S_KEY)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, "py_none")
    a.mov(R9, R0, comment="r9 = scratch")
    a.st(W, R9, VAL_COUNT, 0)
    a.st(W, R9, VAL_FLAGS, 0)
    # hash = seed ^ tgid: stacks of different processes never share a key's hash by design.
    a.ld_imm64(R1, maps.seed)
    a.ldx(DW, R2, R10, _S_TGID)
    a.xor(R1, R2)
    a.stx(DW, R9, SCR_HASH, R1)

    # The current frame: tstate->cframe->current_frame (3.11/3.12) or tstate->current_frame.
    a.ldx(W, R1, R8, L_TSTATE_FRAME)
    a.mov(R3, R7)
    a.add(R3, R1)
    _read_user(a, SCR_PTR, 8, R3)
    a.jne(R0, 0, "py_read_error")
    a.ldx(DW, R7, R9, SCR_PTR, comment="r7 = cframe, or the current frame")
    a.ldx(W, R1, R8, L_CFRAME_CURRENT)
    a.jeq32(R1, NONE, "py_have_frame")
    a.jeq(R7, 0, "py_done")
    a.mov(R3, R7)
    a.add(R3, R1)
    _read_user(a, SCR_PTR, 8, R3)
    a.jne(R0, 0, "py_read_error")
    a.ldx(DW, R7, R9, SCR_PTR, comment="r7 = the current frame")
    a.label("py_have_frame")
    a.mov(R6, 0, comment="r6 = frames visited")

    a.label("py_loop")
    a.jeq(R7, 0, "py_done", comment="past the first frame of the thread")
    a.jge(R6, MAX_STEPS, "py_cut")
    a.add(R6, 1)
    _read_user(a, SCR_FRAME, FRAME_READ, R7)
    a.jne(R0, 0, "py_read_error")
    _field(a, L_PREVIOUS, DW, R7, FRAME_READ - 8, "py_done")
    # owner: entry frames of the C stack end a run (3.12+); a thread's base frame is skipped.
    _field(a, L_OWNER, B, R3, FRAME_READ - 1, "py_done")
    a.ldx(W, R1, R8, L_OWNER_CSTACK)
    a.jeq(R3, R1, "py_run_end")
    a.ldx(W, R1, R8, L_OWNER_SKIP)
    a.jeq(R3, R1, "py_loop")
    # A frame to keep: slot = frames[count], if there is room.
    a.ldx(W, R1, R9, VAL_COUNT)
    a.jge(R1, MAX_FRAMES, "py_cut")
    _slot(a)
    _field(a, L_CODE, DW, R3, FRAME_READ - 8, "py_done")
    a.ldx(DW, R1, R8, L_CODE_MASK)
    a.and_(R3, R1, comment="r3 = code object (tag bits cleared)")
    a.jeq(R3, 0, "py_loop")
    a.stx(DW, R4, F_CODE, R3)
    _field(a, L_INSTR, DW, R5, FRAME_READ - 8, "py_done")
    a.sub(R5, R3)
    a.ldx(W, R1, R8, L_CODE_ADAPTIVE)
    a.sub(R5, R1, comment="r5 = instruction offset in bytes")
    a.stx(W, R4, F_OFFSET, R5)
    a.st(W, R4, F_WORD, 0)
    # The code object's first line, read straight into the slot's word.
    a.ldx(W, R1, R8, L_FIRSTLINENO)
    a.add(R3, R1)
    a.mov(R1, R4)
    a.add(R1, F_WORD)
    a.mov(R2, 4)
    a.call("probe_read_user")
    # Recompute the slot (calls clobber r1-r5); 3.11: is_entry ends a run.
    _slot(a)
    a.ldx(W, R5, R4, F_WORD)
    a.and_(R5, FIRST_LINE_MASK)
    a.ldx(W, R1, R8, L_IS_ENTRY)
    a.jeq32(R1, NONE, "py_word")
    a.jgt(R1, FRAME_READ - 1, "py_word")
    a.mov(R2, R9)
    a.add(R2, SCR_FRAME)
    a.add(R2, R1)
    a.ldx(B, R1, R2, 0)
    a.jeq(R1, 0, "py_word")
    a.or_(R5, RUN_END)
    a.label("py_word")
    a.stx(W, R4, F_WORD, R5)
    a.ldx(DW, R3, R4, F_CODE)
    _mix(a, R3)
    a.ldx(DW, R3, R4, F_OFFSET, comment="offset and word together")
    _mix(a, R3)
    a.ldx(W, R1, R9, VAL_COUNT)
    a.add(R1, 1)
    a.stx(W, R9, VAL_COUNT, R1)
    a.ja("py_loop")

    a.label("py_run_end")
    # The frame stored last is the outermost of its run: set its flag, mark the hash.
    a.ldx(W, R1, R9, VAL_COUNT)
    a.jeq(R1, 0, "py_loop")
    _slot(a, back=1)
    a.ldx(W, R5, R4, F_WORD)
    a.or_(R5, RUN_END)
    a.stx(W, R4, F_WORD, R5)
    a.ld_imm64(R3, _BOUNDARY)
    _mix(a, R3)
    a.ja("py_loop")

    a.label("py_cut")
    a.ldx(W, R1, R9, VAL_FLAGS)
    a.or_(R1, FLAG_CUT)
    a.stx(W, R9, VAL_FLAGS, R1)
    stat(PyStat.CUT)
    a.ja("py_done")
    a.label("py_read_error")
    a.ldx(W, R1, R9, VAL_FLAGS)
    a.or_(R1, FLAG_READ_ERROR)
    a.stx(W, R9, VAL_FLAGS, R1)
    stat(PyStat.READ_ERRORS)

    a.label("py_done")
    a.ldx(W, R1, R9, VAL_COUNT)
    a.jeq(R1, 0, "py_none")
    _mix(a, R1)
    a.ldx(W, R1, R9, VAL_FLAGS)
    _mix(a, R1)
    a.ldx(DW, R1, R9, SCR_HASH)
    a.ld_imm64(R2, HASH_MASK)
    a.and_(R1, R2, comment="the top bits carry the thread's state")
    a.jne(R1, 0, "py_hash_ok")
    a.mov(R1, 1, comment="0 means 'no stack'")
    a.label("py_hash_ok")
    a.stx(DW, R10, _S_STACK_KEY + K_HASH, R1)
    a.ldx(DW, R2, R10, _S_TGID)
    a.stx(W, R10, _S_STACK_KEY + K_TGID, R2)
    a.st(W, R10, _S_STACK_KEY + K_PAD, 0)
    stat(PyStat.STACKS)
    a.ld_map_fd(R1, maps.stacks)
    a.mov(R2, R10)
    a.add(R2, _S_STACK_KEY)
    a.call("map_lookup_elem")
    a.jne(R0, 0, "py_stored", comment="a stack seen before: nothing to copy")
    a.ld_map_fd(R1, maps.stacks)
    a.mov(R2, R10)
    a.add(R2, _S_STACK_KEY)
    a.mov(R3, R9, comment="the scratch value starts with the StackValue")
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    a.jeq(R0, 0, "py_stored")
    a.jeq(R0, -errno.EEXIST, "py_stored", comment="another CPU stored it first")
    stat(PyStat.STACKS_FULL)
    a.label("py_none")
    a.ldx(DW, R0, R10, _S_STATE, comment="no frames: the thread's state alone")
    a.exit()
    a.label("py_stored")
    a.ldx(DW, R0, R10, _S_STACK_KEY + K_HASH)
    a.ldx(DW, R1, R10, _S_STATE)
    a.or_(R0, R1)
    a.exit()
