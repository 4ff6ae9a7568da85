"""The sampling program, written in pybpf's DSL: runs on every cpu-clock tick of every CPU.

For each sample it builds the key ``{tgid, tid, user_stack_id, kernel_stack_id, comm}``, stores
the stacks in a stack-trace map, and counts the key in a hash map (in-kernel aggregation: user
space reads one entry per distinct key, not one record per sample).

Interval boundaries lose nothing: there are two sets of (counts, stacks) maps and a one-entry
control array naming the active set. User space flips the flag, then drains and clears the idle
set. Collisions in the stack map, stack errors and a full counts map are counted per CPU in the
``stats`` array, never silent.

Options known at load time (idle exclusion, pid filtering, kernel/user stacks) are baked into the
program as constants, so the common path has no branches for them.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pybpf.asm import DW, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, Assembler, B, W

from .layouts import (
    COMM_LEN,
    KSTACK_DEPTH,
    RECORD_HEADER,
    SPAWN_DEPTH,
    Control,
    DwarfRecord,
    DwarfRecordHead,
    SampleKey,
    Stat,
)
from .leaf_caller import emit_leaf_caller
from .python_walk import PythonMaps, emit_python_call, emit_python_walk
from .ring_wakeup import BPF_RB_FORCE_WAKEUP, emit_wakeup_flags
from .stat_counters import emit_count_stat

KEY_SIZE = SampleKey.size
KEY_TGID = SampleKey.offset_of("tgid")
KEY_TID = SampleKey.offset_of("tid")
KEY_USER_STACK = SampleKey.offset_of("user_stack")
KEY_KERNEL_STACK = SampleKey.offset_of("kernel_stack")
KEY_COMM = SampleKey.offset_of("comm")
KEY_SPAWN_CHAIN = SampleKey.offset_of("spawn_chain")
KEY_LEAF_CALLER = SampleKey.offset_of("leaf_caller")
KEY_PYTHON_STACK = SampleKey.offset_of("python_stack")

REC_TGID = DwarfRecordHead.offset_of("tgid")
REC_TID = DwarfRecordHead.offset_of("tid")
REC_COMM = DwarfRecordHead.offset_of("comm")
REC_IP = DwarfRecordHead.offset_of("ip")
REC_SP = DwarfRecordHead.offset_of("sp")
REC_FP = DwarfRecordHead.offset_of("fp")
REC_STACK_LEN = DwarfRecordHead.offset_of("stack_len")
REC_KSTACK_BYTES = DwarfRecordHead.offset_of("kstack_bytes")
REC_KSTACK = DwarfRecord.offset_of("kstack")
REC_SPAWN_CHAIN = DwarfRecord.offset_of("spawn_chain")
REC_PYTHON_STACK = DwarfRecord.offset_of("python_stack")
REC_HEADER = RECORD_HEADER

# Offsets of the user registers in the kernel's struct pt_regs (a stable ABI per architecture).
PT_REGS = {
    "x86_64": {"ip": 128, "sp": 152, "fp": 32},
    "aarch64": {"ip": 256, "sp": 248, "fp": 232},
}

BPF_F_USER_STACK = 1 << 8
BPF_NOEXIST = 1

# Stack-frame layout of the program (offsets from r10).
_KEY = -KEY_SIZE  # the sample key
_TMP = -KEY_SIZE - 8  # scratch u64 (a map key or the initial count)
_PY_STACK = -KEY_SIZE - 16  # u64: the Python stack's id (0: none)
_LEAF_WORDS = -KEY_SIZE - 40  # 16 bytes: the top of the user stack (leaf_caller)
_LEAF_CODE = -KEY_SIZE - 56  # 16 bytes: code read to check a return address (leaf_caller)


@dataclass(frozen=True)
class SamplerConfig:
    """What the program does, fixed at load time."""

    user_stacks: bool = True
    kernel_stacks: bool = True
    include_idle: bool = False
    filter_pids: bool = False  # only tgids present in the ``targets`` map are counted
    # DWARF unwinding: "off"; "some" (tgids in the ``dwarf_pids`` map); "all".
    dwarf: str = "off"
    stack_copy: int = 8192  # bytes of user stack copied per DWARF sample (a power of two)
    arch: str = "x86_64"
    spawn_links: bool = False  # read the Tokio spawn chain of the polled task (SpawnTracker)
    wake_after: int = 5120  # new keys in a set that wake the drain (half the counts map)
    # Recover the caller a frame-pointer walk skips (frameless leaves; x86-64 only).
    leaf_callers: bool = True
    python: bool = False  # walk CPython frames of known threads (profiler.bpf.python_walk)

    @property
    def record_size(self) -> int:
        """Bytes of one DWARF record in the ring buffer."""
        return REC_HEADER + self.stack_copy


def _count_stat(a: Assembler, stats: object, slot: int) -> None:
    """Emit ``stats[slot] += 1`` (per-CPU slot). Clobbers r0-r5 and the scratch slot."""
    emit_count_stat(a, stats, slot, _TMP)


def _stack_id(
    a: Assembler, stacks: object, stats: object, flags: int, key_off: int, slots: tuple[int, int]
) -> None:
    """Emit ``key.<stack> = bpf_get_stackid(ctx, stacks, flags)``, counting failures."""
    collision_slot, error_slot = slots
    a.mov(R1, R6)
    a.ld_map_fd(R2, stacks)
    a.mov(R3, flags)
    a.call("get_stackid")
    a.stx(W, R10, _KEY + key_off, R0)
    done = f"stack_done_{len(a)}"
    a.jsge(R0, 0, done)
    a.jeq(R0, -errno.EFAULT, done, comment="no stack of this kind (e.g. kernel thread): fine")
    collision = f"collision_{len(a)}"
    a.jeq(R0, -errno.EEXIST, collision)
    _count_stat(a, stats, error_slot)
    a.ja(done)
    a.label(collision)
    _count_stat(a, stats, collision_slot)
    a.label(done)


def _lookup_and_add(a: Assembler, counts: object, missing: str) -> None:
    """Emit ``if (v = counts[key]) *v += 1 (atomic) else goto missing``."""
    a.ld_map_fd(R1, counts)
    a.mov(R2, R10)
    a.add(R2, _KEY)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, missing)
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1)


def _new_key_inserted(
    a: Assembler, config: SamplerConfig, control: object, wake: object, which: int, done: str
) -> None:
    """Emit: count a new key of set ``which``; when the count reaches the threshold, wake the
    drain (one 8-byte record with a forced wake-up), so a filling map is drained early."""
    a.st(W, R10, _TMP, 0)
    a.ld_map_fd(R1, control)
    a.mov(R2, R10)
    a.add(R2, _TMP)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, done)
    a.mov(R1, 1)
    offset = Control.offset_of("new_keys") + 4 * which
    a.atomic_add(W, R0, offset, R1, fetch=True, comment=f"r1 = control.new_keys[{which}]++")
    a.jne(R1, config.wake_after - 1, done)
    a.ld_map_fd(R1, wake)
    a.mov(R2, R10)
    a.add(R2, _TMP)
    a.mov(R3, 8)
    a.mov(R4, BPF_RB_FORCE_WAKEUP)
    a.call("ringbuf_output", comment="the counts map is half full: wake the drain")


def _sample_body(
    a: Assembler,
    config: SamplerConfig,
    counts: object,
    stacks: object,
    stats: object,
    wake: tuple[object, object, int] | None = None,
) -> None:
    """Emit the stacks + count part for one set of maps; ends in exit. ``wake``: (control,
    wake ring, set index) to count the set's new keys and wake the drain when it fills."""
    if config.user_stacks:
        slots = (Stat.USER_STACK_COLLISIONS, Stat.USER_STACK_ERRORS)
        _stack_id(a, stacks, stats, BPF_F_USER_STACK, KEY_USER_STACK, slots)
    if config.kernel_stacks:
        slots = (Stat.KERNEL_STACK_COLLISIONS, Stat.KERNEL_STACK_ERRORS)
        _stack_id(a, stacks, stats, 0, KEY_KERNEL_STACK, slots)

    # count = counts[key]; if present: atomically add 1 (several CPUs may share a key).
    insert = f"count_insert_{len(a)}"
    full = f"count_full_{len(a)}"
    counted = f"counted_{len(a)}"
    _lookup_and_add(a, counts, insert)
    a.ja(counted)
    # Absent: insert 1 with BPF_NOEXIST. If another CPU inserted the key in between (-EEXIST),
    # add to its entry once more (no loop: the verifier wants bounded programs).
    a.label(insert)
    a.st(DW, R10, _TMP, 1)
    a.ld_map_fd(R1, counts)
    a.mov(R2, R10)
    a.add(R2, _KEY)
    a.mov(R3, R10)
    a.add(R3, _TMP)
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    inserted = f"inserted_{len(a)}"
    a.jeq(R0, 0, inserted)
    a.jne(R0, -errno.EEXIST, full, comment="no room for a new key")
    _lookup_and_add(a, counts, full)
    a.ja(counted)
    a.label(inserted)
    if wake is not None:
        _new_key_inserted(a, config, wake[0], wake[1], wake[2], counted)
    a.ja(counted)
    a.label(full)
    _count_stat(a, stats, Stat.COUNTS_MAP_FULL)
    a.mov(R0, 0)
    a.exit()
    a.label(counted)
    _count_stat(a, stats, Stat.SAMPLES)
    a.mov(R0, 0)
    a.exit()


def _spawn_chain(
    a: Assembler, config: SamplerConfig, current: object | None, base: object, offset: int
) -> None:
    """Emit the spawn chain at ``base + offset``: looked up by tid, or -1s (0 is a stack id)."""
    if config.spawn_links:
        if current is None:
            raise ValueError("spawn links need the SpawnTracker's current map")
        from .spawn_programs import emit_spawn_chain_lookup

        emit_spawn_chain_lookup(a, current, offset, _TMP, R7, base=base)
    else:
        for level in range(SPAWN_DEPTH):
            a.st(W, base, offset + 4 * level, -1)


def _dwarf_body(
    a: Assembler, config: SamplerConfig, ring: object, stats: object, spawn_current: object
) -> None:
    """Emit: reserve a record, fill registers, kernel stack and a copy of the user stack, submit.

    When the ring is full the code falls through to the frame-pointer path (the sample is kept,
    with a shallower stack, and counted). Expects r6 = ctx, r7 = pid_tgid, r8 = tgid.
    """
    regs = PT_REGS[config.arch]
    a.ld_map_fd(R1, ring)
    a.mov(R2, config.record_size)
    a.mov(R3, 0)
    a.call("ringbuf_reserve")
    a.jne(R0, 0, "dwarf_reserved")
    _count_stat(a, stats, Stat.DWARF_RING_FULL)
    a.ja("frame_pointers")
    a.label("dwarf_reserved")
    a.mov(R9, R0, comment="r9 = the record")
    a.stx(W, R9, REC_TGID, R8)
    a.stx(W, R9, REC_TID, R7)
    a.mov(R1, R9)
    a.add(R1, REC_COMM)
    a.mov(R2, COMM_LEN)
    a.call("get_current_comm")
    # The user registers: the task's saved pt_regs, right even when the sample hit the kernel.
    a.call("get_current_task_btf")
    a.mov(R1, R0)
    a.call("task_pt_regs")
    for name, off in (("ip", REC_IP), ("sp", REC_SP), ("fp", REC_FP)):
        a.ldx(DW, R1, R0, regs[name], comment=f"user {name}")
        a.stx(DW, R9, off, R1)
    _spawn_chain(a, config, spawn_current, R9, REC_SPAWN_CHAIN)
    a.ldx(DW, R1, R10, _PY_STACK)
    a.stx(DW, R9, REC_PYTHON_STACK, R1)
    if config.kernel_stacks:
        a.mov(R1, R6)
        a.mov(R2, R9)
        a.add(R2, REC_KSTACK)
        a.mov(R3, 8 * KSTACK_DEPTH)
        a.mov(R4, 0)
        a.call("get_stack")
        a.stx(W, R9, REC_KSTACK_BYTES, R0)
    else:
        a.st(W, R9, REC_KSTACK_BYTES, 0)
    # Copy the top of the user stack. A read that would cross the end of the stack mapping fails
    # as a whole, so try smaller copies (the stack's top is near) down to 512 bytes.
    sizes = []
    size = config.stack_copy
    while size >= 512:
        sizes.append(size)
        size //= 2
    for size in sizes:
        a.mov(R1, R9)
        a.add(R1, REC_HEADER)
        a.mov(R2, size)
        a.ldx(DW, R3, R9, REC_SP)
        a.call("probe_read_user")
        a.jeq(R0, 0, f"copied_{size}")
    _count_stat(a, stats, Stat.DWARF_NO_STACK)
    a.st(W, R9, REC_STACK_LEN, 0)
    a.ja("dwarf_submit")
    for size in sizes:
        a.label(f"copied_{size}")
        a.st(W, R9, REC_STACK_LEN, size)
        a.ja("dwarf_submit")
    a.label("dwarf_submit")
    # r8 (the tgid) is not needed any more: it carries the submit flags.
    emit_wakeup_flags(a, ring, ring.spec.max_entries, R8)
    a.mov(R1, R9)
    a.mov(R2, R8)
    a.call("ringbuf_submit")
    _count_stat(a, stats, Stat.DWARF_SAMPLES)
    a.mov(R0, 0)
    a.exit()


def build_sampler(
    config: SamplerConfig,
    counts: tuple[object, object],
    stacks: tuple[object, object],
    control: object,
    stats: object,
    targets: object | None = None,
    ring: object | None = None,
    dwarf_pids: object | None = None,
    spawn_current: object | None = None,
    wake: object | None = None,
    python_maps: PythonMaps | None = None,
) -> Assembler:
    """Assemble the sampler for ``config`` over the given maps (objects with ``.fd``).

    ``wake``: a small ring buffer the program writes to when a counts map is half full (the
    drain waits on it; without it, only the drain interval paces the drains).
    """
    a = Assembler()
    a.mov(R6, R1, comment="r6 = ctx (struct bpf_perf_event_data *)")
    a.call("get_current_pid_tgid")
    a.mov(R7, R0, comment="r7 = tgid << 32 | tid")
    a.mov(R8, R0)
    a.rsh(R8, 32, comment="r8 = tgid")
    if not config.include_idle:
        a.mov32(R1, R7, comment="r1 = tid")
        a.jeq(R1, 0, "filtered", comment="tid 0: the idle task")
    if config.filter_pids:
        if targets is None:
            raise ValueError("filter_pids needs the targets map")
        a.stx(W, R10, _TMP, R8)
        a.ld_map_fd(R1, targets)
        a.mov(R2, R10)
        a.add(R2, _TMP)
        a.call("map_lookup_elem")
        a.jeq(R0, 0, "filtered", comment="not a target process")

    a.st(DW, R10, _PY_STACK, 0)
    if config.python:
        if python_maps is None:
            raise ValueError("Python frames need the walk's maps (python_walk.PythonMaps)")
        emit_python_call(a, R7, _PY_STACK)

    if config.dwarf != "off":
        if ring is None or (config.dwarf == "some" and dwarf_pids is None):
            raise ValueError("DWARF unwinding needs the ring buffer (and the dwarf_pids map)")
        if config.dwarf == "some":
            a.stx(W, R10, _TMP, R8)
            a.ld_map_fd(R1, dwarf_pids)
            a.mov(R2, R10)
            a.add(R2, _TMP)
            a.call("map_lookup_elem")
            a.jeq(R0, 0, "frame_pointers", comment="this process has frame pointers")
        _dwarf_body(a, config, ring, stats, spawn_current)
        a.label("frame_pointers")

    # The key: zeroed first (hash maps compare all bytes, padding included).
    for off in range(0, KEY_SIZE, 8):
        a.st(DW, R10, _KEY + off, 0)
    a.stx(W, R10, _KEY + KEY_TGID, R8)
    a.stx(W, R10, _KEY + KEY_TID, R7, comment="the low 32 bits of r7: tid")
    a.mov(R1, R10)
    a.add(R1, _KEY + KEY_COMM)
    a.mov(R2, COMM_LEN)
    a.call("get_current_comm")
    a.st(W, R10, _KEY + KEY_USER_STACK, -1)
    a.st(W, R10, _KEY + KEY_KERNEL_STACK, -1)
    _spawn_chain(a, config, spawn_current, R10, _KEY + KEY_SPAWN_CHAIN)
    a.ldx(DW, R1, R10, _PY_STACK)
    a.stx(DW, R10, _KEY + KEY_PYTHON_STACK, R1)
    if config.user_stacks and config.leaf_callers and config.arch == "x86_64":
        emit_leaf_caller(
            a,
            regs=PT_REGS[config.arch],
            out_off=_KEY + KEY_LEAF_CALLER,
            words_off=_LEAF_WORDS,
            code_off=_LEAF_CODE,
            ip=R7,
            candidate=R8,
            target=R9,
        )

    # Which set of maps is active: control[0].
    a.st(W, R10, _TMP, 0)
    a.ld_map_fd(R1, control)
    a.mov(R2, R10)
    a.add(R2, _TMP)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, "filtered")
    a.ldx(B, R9, R0, 0, comment="r9 = active set (0 or 1)")
    a.jne(R9, 0, "set1")
    _sample_body(a, config, counts[0], stacks[0], stats, (control, wake, 0) if wake else None)
    a.label("set1")
    _sample_body(a, config, counts[1], stacks[1], stats, (control, wake, 1) if wake else None)

    a.label("filtered")
    _count_stat(a, stats, Stat.FILTERED)
    a.mov(R0, 0)
    a.exit()
    if config.python:
        emit_python_walk(a, python_maps)
    return a
