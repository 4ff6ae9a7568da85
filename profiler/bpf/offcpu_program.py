"""The off-CPU program, written in pybpf's DSL: runs on every context switch of every CPU.

One run of the program sees both sides of a switch:

- **switch-in** of ``next``: if we remembered when ``next`` left the CPU, the blocked time
  ``now - then`` is added to the stack it left with, in a hash map keyed like the CPU sampler's
  (``{tgid, tid, user stack id, kernel stack id, comm, state, stack set}``, the
  :class:`~profiler.bpf.offcpu_layouts.OffCpuKey`): in-kernel aggregation, one entry per
  distinct key, values in nanoseconds.
- **switch-out** of ``prev`` (the running task, so the stack helpers see its stacks): if it is a
  target (the whole machine, the tgids of the ``targets`` map, or a cgroup), remember the time,
  its stacks and the state it leaves in (preempted/runnable, sleeping, disk...).

Which hook: the ``sched_switch`` tracepoint exists in three forms. The classic tracepoint builds
a trace record (comms, pids, prios, state) before the program runs; the raw tracepoint
(``BPF_RAW_TRACEPOINT_OPEN``) hands the program the tracepoint's own arguments
``(preempt, prev, next, prev_state)``; the BTF tracepoint (``tp_btf``) runs the same way as the
raw one but lets the program dereference the task pointers (it needs the BTF id of
``btf_trace_sched_switch`` at load time). We need no field of a task: with the raw forms the
remembered switch-out is keyed by the task's address (``prev``) and looked up by ``next``'s, so
no ``task_struct`` offset (no kernel headers, no BTF parsing) is needed; the classic form keys by
thread id (``next_pid``). Measured here (bench/test_bench_offcpu.py, test_switch_hook_cost,
program time from bpf_stats, switch time of two threads yielding on one CPU):

- a switch of a task that is not a target: the program costs ~85 ns in all three forms, but the
  classic tracepoint's record adds ~100 ns to every switch on the machine, the raw forms ~0;
- a target's switch with user and kernel stacks: 1 540 ns (classic) against 1 755 ns (raw and
  BTF): from a raw tracepoint the kernel unwinder first walks out of the program and
  ``bpf_trace_run4`` (two frames, dropped with the skip field, still paid for);
- without stacks the three are alike (~190 ns).

So the choice follows the target (:class:`profiler.bpf.offcpu.OffCpuSampler`, ``hook="auto"``):
the whole machine, where every switch is a target, gets the classic tracepoint; ``--pid`` and
``--cgroup``, where most switches are someone else's, get the raw tracepoint. ``tp_btf`` brings
nothing we use (it is measured only). Either falls back to the other (raw ``sched_switch`` has
``prev_state`` since Linux 5.18). The classic form returns 1: a tracepoint program that returns
0 hides the event from every perf user of the tracepoint (``perf_trace_run_bpf_submit``), which
would blind ``perf record -e sched:sched_switch`` on the node while we run.

Interval boundaries lose nothing: as in the CPU sampler there are two sets of (counts, stacks)
maps and a control flag naming the active set. A switch-out takes its stack ids in the active
set and records that set in the key; the switch-in adds to the counts map active *then*. User
space resolves each key's stacks in the set the key names, and clears an idle stack map only of
ids no remembered switch-out and no pending count refers to (see :mod:`profiler.bpf.offcpu`).

What is dropped is counted, per CPU, never silent: blocks shorter than the minimum (and their
nanoseconds), switch-outs skipped by sampling, a full start or counts map (and the nanoseconds
lost), switch-outs whose switch-in never came (found when the thread leaves again), stack-map
collisions and errors.

DWARF unwinding (processes without frame pointers): at switch-out the program copies the user
registers, the kernel stack and the top of the user stack into a per-thread stash (a hash map
entry, reused while the thread lives); at switch-in, if the block is long enough, the stash goes
to the ring buffer with its nanoseconds for user space to unwind (the user stack cannot be read
at switch-in: another task is running then).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pybpf.asm import DW, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, Assembler, W

from .layouts import COMM_LEN, KSTACK_DEPTH, DwarfRecordHead
from .offcpu_layouts import (
    FLAG_DWARF,
    OFF_CPU_RECORD_HEADER,
    STACK_NOT_KEPT,
    OffCpuKey,
    OffCpuRecord,
    OffCpuStart,
    OffCpuStat,
)
from .python_walk import PythonMaps, emit_python_call, emit_python_walk
from .ring_wakeup import emit_wakeup_flags
from .sampler_program import BPF_F_USER_STACK, BPF_NOEXIST, PT_REGS

HOOKS = ("tracepoint", "raw_tp", "tp_btf")

# Offsets in the structs of :mod:`.offcpu_layouts` (the key, the start value, the DWARF record).
KEY_SIZE = OffCpuKey.size
KEY_TGID = OffCpuKey.offset_of("tgid")
KEY_TID = OffCpuKey.offset_of("tid")
KEY_USER_STACK = OffCpuKey.offset_of("user_stack")
KEY_KERNEL_STACK = OffCpuKey.offset_of("kernel_stack")
KEY_COMM = OffCpuKey.offset_of("comm")
KEY_STATE = OffCpuKey.offset_of("state")
KEY_STACK_SET = OffCpuKey.offset_of("stack_set")
KEY_PYTHON_STACK = OffCpuKey.offset_of("python_stack")
START_KEY = OffCpuStart.offset_of("key")  # 0: a start value begins with its key
START_TS = OffCpuStart.offset_of("ts")
START_FLAGS = OffCpuStart.offset_of("flags")
START_SIZE = OffCpuStart.size
REC_TGID = DwarfRecordHead.offset_of("tgid")
REC_COMM = DwarfRecordHead.offset_of("comm")
REC_IP = DwarfRecordHead.offset_of("ip")
REC_SP = DwarfRecordHead.offset_of("sp")
REC_FP = DwarfRecordHead.offset_of("fp")
REC_STACK_LEN = DwarfRecordHead.offset_of("stack_len")
REC_KSTACK_BYTES = DwarfRecordHead.offset_of("kstack_bytes")
REC_KSTACK = OffCpuRecord.offset_of("kstack")
REC_NS = OffCpuRecord.offset_of("ns")
REC_STATE = OffCpuRecord.offset_of("state")
REC_PYTHON_STACK = OffCpuRecord.offset_of("python_stack")
REC_HEADER = OFF_CPU_RECORD_HEADER  # the user stack copy follows

# The raw tracepoint's state: prev_state as the scheduler has it, or this bit when the task was
# preempted (its state is then irrelevant: it is still runnable).
STATE_PREEMPTED = 1 << 31
RAW_STATE_MASK = 0xFFFF
# A task that exits is switched out for the last time: the classic tracepoint reports it as
# X or Z (0x10, 0x20, from exit_state), the raw one as TASK_DEAD (0x80). Nothing to remember.
TP_EXITING = 0x10 | 0x20
RAW_EXITING = 0x80

# Context offsets. The classic tracepoint's record (tracefs events/sched/sched_switch/format):
TP_PREV_COMM = 8
TP_PREV_STATE = 32  # long
TP_NEXT_PID = 56
# The raw tracepoint's arguments (u64 each): trace_sched_switch(preempt, prev, next, prev_state).
RAW_PREEMPT = 0
RAW_PREV = 8
RAW_NEXT = 16
RAW_PREV_STATE = 24
RAW_NARGS = 4
RAW_KERNEL_SKIP = 2  # the low 8 bits of bpf_get_stackid's flags: frames to skip

# Stack frame of the program (offsets from r10).
_VAL = -START_SIZE  # the start value being built / the key being counted (56 bytes)
_TK = _VAL - 8  # the task key (u64): a task address (raw/BTF) or a tid (classic)
_NOW = _TK - 8  # u64, the time this run began (a switch-in's end of block)
_DELTA = _NOW - 8  # u64, the blocked time of next
_TMP = _DELTA - 8  # scratch

# Registers kept across helper calls.
CTX, STATS, SAVED, ACTIVE = R6, R7, R8, R9


@dataclass(frozen=True)
class OffCpuConfig:
    """What the program does, fixed at load time."""

    hook: str = "tracepoint"  # tracepoint | raw_tp | tp_btf
    user_stacks: bool = True
    kernel_stacks: bool = True
    target: str = "all"  # all | pids (the targets map) | cgroup (a CGROUP_ARRAY map)
    min_ns: int = 0  # blocks shorter than this are not counted
    # Remember a switch-out when bpf_get_prandom_u32() < sample_below: 1 << 32 remembers all.
    sample_below: int = 1 << 32
    dwarf: str = "off"  # off | some (tgids of dwarf_pids) | all
    stack_copy: int = 8192  # bytes of user stack copied per DWARF switch-out (a power of two)
    # DWARF blocks shorter than this are not sent (each costs a ring record and an unwinding).
    dwarf_min_ns: int = 0
    arch: str = "x86_64"
    python: bool = False  # walk CPython frames at switch-out (profiler.bpf.python_walk)

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"hook must be one of {', '.join(HOOKS)}, not {self.hook!r}")
        if self.target not in ("all", "pids", "cgroup"):
            raise ValueError(f"target must be all, pids or cgroup, not {self.target!r}")
        if not 0 <= self.min_ns < 1 << 63:
            raise ValueError(f"min_ns out of range: {self.min_ns}")
        if not 1 <= self.sample_below <= 1 << 32:
            raise ValueError(f"sample_below must be in 1..2**32, not {self.sample_below}")
        if self.dwarf not in ("off", "some", "all"):
            raise ValueError(f"dwarf must be off, some or all, not {self.dwarf!r}")

    @property
    def record_size(self) -> int:
        """Bytes of one DWARF stash entry / ring record."""
        return REC_HEADER + self.stack_copy

    @property
    def raw(self) -> bool:
        """Whether the program reads the raw tracepoint's arguments (raw_tp and tp_btf)."""
        return self.hook != "tracepoint"

    @property
    def kernel_skip(self) -> int:
        """Kernel frames to drop from the leaf: from a raw tracepoint the walk starts in the
        program itself and ``bpf_trace_run4``; the classic one starts at ``__schedule``."""
        return RAW_KERNEL_SKIP if self.raw else 0


@dataclass(frozen=True)
class OffCpuMaps:
    """The maps the program uses (objects with ``.fd``); the optional ones may be None."""

    counts: tuple[object, object]
    stacks: tuple[object, object]
    control: object
    stats: object
    start: object
    targets: object | None = None  # HASH tgid -> u8 (target="pids")
    cgroup: object | None = None  # CGROUP_ARRAY with the cgroup at index 0 (target="cgroup")
    ring: object | None = None  # RINGBUF (DWARF records)
    stash: object | None = None  # HASH task key -> record (DWARF)
    zero: object | None = None  # ARRAY of one zeroed record: the stash's initial value
    dwarf_pids: object | None = None  # HASH tgid -> u8 (dwarf="some")
    python: PythonMaps | None = None  # the CPU sampler's walk maps (config.python)


def _inc(a: Assembler, slot: OffCpuStat, value: object = 1) -> None:
    """Emit ``stats[slot] += value`` (an int or a register). Clobbers r1."""
    off = slot.offset
    a.ldx(DW, R1, STATS, off, comment=f"stats.{slot.field} +=")
    a.add(R1, value)
    a.stx(DW, STATS, off, R1)


def _for_each_set(a: Assembler, emit) -> None:
    """Emit ``emit(0)`` when the active set is 0, ``emit(1)`` otherwise (map fds are immediates)."""
    other = f"set1_{len(a)}"
    done = f"sets_done_{len(a)}"
    a.jne(ACTIVE, 0, other)
    emit(0)
    a.ja(done)
    a.label(other)
    emit(1)
    a.label(done)


def _lookup(a: Assembler, m: object, key_off: int, missing: str) -> None:
    """``r0 = lookup(m, r10 + key_off)``; if NULL goto ``missing``."""
    a.lookup_or_jump(m, key_off, missing)


def _stack_id(a: Assembler, stacks: object, flags: int, key_off: int, kind: str) -> None:
    """Emit ``value.<stack> = bpf_get_stackid(ctx, stacks, flags)``, counting failures."""
    a.mov(R1, CTX)
    a.ld_map_fd(R2, stacks)
    a.mov(R3, flags)
    a.call("get_stackid")
    a.stx(W, R10, _VAL + key_off, R0)
    done = f"stack_done_{len(a)}"
    collision = f"collision_{len(a)}"
    a.jsge(R0, 0, done)
    a.jeq(R0, -errno.EFAULT, done, comment="no stack of this kind (e.g. a kernel thread)")
    a.jeq(R0, -errno.EEXIST, collision)
    _inc(a, OffCpuStat[f"{kind.upper()}_STACK_ERRORS"])
    a.ja(done)
    a.label(collision)
    _inc(a, OffCpuStat[f"{kind.upper()}_STACK_COLLISIONS"])
    a.label(done)


def _count(a: Assembler, counts: object) -> None:
    """Emit ``counts[key at _VAL] += delta`` (atomic; insert if absent), counting a full map."""
    added = f"added_{len(a)}"
    insert = f"insert_{len(a)}"
    full = f"full_{len(a)}"

    def lookup_and_add(missing: str) -> None:
        _lookup(a, counts, _VAL, missing)
        a.ldx(DW, R1, R10, _DELTA)
        a.atomic_add(DW, R0, 0, R1, comment="several CPUs may share a key")
        a.ja(added)

    lookup_and_add(insert)
    a.label(insert)
    a.ld_map_fd(R1, counts)
    a.stack_pointer(R2, _VAL)
    a.stack_pointer(R3, _DELTA)
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    a.jeq(R0, 0, added)
    # Another CPU inserted the key in between: add to its entry (once: no loops).
    a.jne(R0, -errno.EEXIST, full, comment="no room for a new key")
    lookup_and_add(full)
    a.label(full)
    _inc(a, OffCpuStat.COUNTS_MAP_FULL)
    a.ldx(DW, R2, R10, _DELTA)
    _inc(a, OffCpuStat.COUNTS_MAP_FULL_NS, R2)
    a.label(added)


def _switch_in(a: Assembler, config: OffCpuConfig, maps: OffCpuMaps) -> None:
    """Emit the switch-in half: count the blocked time of ``next``. Ends at ``switch_out``."""
    if config.raw:
        a.ldx(DW, R1, CTX, RAW_NEXT, comment="next (a task address)")
    else:
        a.ldx(W, R1, CTX, TP_NEXT_PID, comment="next_pid")
        a.jeq(R1, 0, "switch_out", comment="the idle task")
    a.stx(DW, R10, _TK, R1)
    _lookup(a, maps.start, _TK, "switch_out")
    a.mov(SAVED, R0, comment="the remembered switch-out")
    a.ldx(DW, R1, SAVED, START_TS)
    a.ldx(DW, R2, R10, _NOW)
    a.sub(R2, R1)
    a.stx(DW, R10, _DELTA, R2, comment="blocked ns")
    # Copy the key out before deleting the entry: a freed element may be reused at once.
    for off in range(0, KEY_SIZE, 8):
        a.ldx(DW, R1, SAVED, START_KEY + off)
        a.stx(DW, R10, _VAL + off, R1)
    a.ldx(W, R1, SAVED, START_FLAGS)
    a.stx(W, R10, _VAL + START_FLAGS, R1)
    a.ld_map_fd(R1, maps.start)
    a.stack_pointer(R2, _TK)
    a.call("map_delete_elem")
    a.ldx(DW, R2, R10, _DELTA)
    if config.min_ns > 0:
        a.ld_imm64(R3, config.min_ns)
        a.jge(R2, R3, "long_enough")
        _inc(a, OffCpuStat.BELOW_MIN)
        _inc(a, OffCpuStat.BELOW_MIN_NS, R2)
        a.ja("switch_out")
        a.label("long_enough")
    if config.dwarf != "off":
        a.ldx(W, R1, R10, _VAL + START_FLAGS)
        a.jset(R1, FLAG_DWARF, "dwarf_in")
    a.label("count_block")
    _for_each_set(a, lambda i: _count(a, maps.counts[i]))
    _inc(a, OffCpuStat.BLOCKS)
    a.ldx(DW, R2, R10, _DELTA)
    _inc(a, OffCpuStat.BLOCKED_NS, R2)
    a.ja("switch_out")
    if config.dwarf != "off":
        a.label("dwarf_in")
        _dwarf_switch_in(a, config, maps)
        a.ja("switch_out")


def _dwarf_switch_in(a: Assembler, config: OffCpuConfig, maps: OffCpuMaps) -> None:
    """Emit: put the blocked ns into next's stash entry and send the entry to the ring."""
    if config.dwarf_min_ns > config.min_ns:
        # A short block is counted all the same, without its stack (it was not walked: the
        # copy is unwound in user space only for blocks worth a ring record and an unwinding).
        a.ldx(DW, R2, R10, _DELTA)
        a.ld_imm64(R3, config.dwarf_min_ns)
        a.jge(R2, R3, "dwarf_long_enough")
        _inc(a, OffCpuStat.DWARF_SHORT)
        _inc(a, OffCpuStat.DWARF_SHORT_NS, R2)
        a.ldx(W, R1, R10, _VAL + KEY_STACK_SET)
        a.or_(R1, STACK_NOT_KEPT)
        a.stx(W, R10, _VAL + KEY_STACK_SET, R1)
        a.ja("count_block")
        a.label("dwarf_long_enough")
    _lookup(a, maps.stash, _TK, "stash_lost")
    a.mov(SAVED, R0)
    a.ldx(DW, R1, R10, _DELTA)
    a.stx(DW, SAVED, REC_NS, R1)
    a.ldx(W, R1, R10, _VAL + KEY_STATE)
    a.stx(W, SAVED, REC_STATE, R1)
    emit_wakeup_flags(a, maps.ring, maps.ring.spec.max_entries, R4)
    a.ld_map_fd(R1, maps.ring)
    a.mov(R2, SAVED)
    a.mov(R3, config.record_size)
    a.call("ringbuf_output")
    a.jeq(R0, 0, "dwarf_sent")
    _inc(a, OffCpuStat.DWARF_RING_FULL)
    a.ja("switch_out")
    a.label("dwarf_sent")
    _inc(a, OffCpuStat.DWARF_RECORDS)
    _inc(a, OffCpuStat.BLOCKS)
    a.ldx(DW, R2, R10, _DELTA)
    _inc(a, OffCpuStat.BLOCKED_NS, R2)
    a.ja("switch_out")
    a.label("stash_lost")
    _inc(a, OffCpuStat.DWARF_STASH_LOST)


def _prev_state(a: Assembler, config: OffCpuConfig) -> None:
    """Emit ``r1 = the state prev leaves in`` (see STATE_PREEMPTED)."""
    if not config.raw:
        a.ldx(DW, R1, CTX, TP_PREV_STATE, comment="prev_state (0x100: preempted)")
        return
    a.ldx(DW, R1, CTX, RAW_PREV_STATE)
    a.and_(R1, RAW_STATE_MASK)
    a.ldx(DW, R2, CTX, RAW_PREEMPT)
    a.and_(R2, 0xFF, comment="bool preempt")
    a.jeq(R2, 0, "state_done")
    a.mov32(R1, STATE_PREEMPTED)
    a.label("state_done")


def _is_target(a: Assembler, config: OffCpuConfig, maps: OffCpuMaps) -> None:
    """Emit the target filter for prev (tgid in r8's high half); jumps to ``exit`` if not."""
    if config.target == "pids":
        if maps.targets is None:
            raise ValueError("target='pids' needs the targets map")
        a.mov(R1, SAVED)
        a.rsh(R1, 32)
        a.stx(W, R10, _TMP, R1)
        _lookup(a, maps.targets, _TMP, "exit")
    elif config.target == "cgroup":
        if maps.cgroup is None:
            raise ValueError("target='cgroup' needs the cgroup array")
        a.ld_map_fd(R1, maps.cgroup)
        a.mov(R2, 0)
        a.call("current_task_under_cgroup")
        a.jne(R0, 1, "exit", comment="not in the cgroup (or an error)")


def _dwarf_switch_out(a: Assembler, config: OffCpuConfig, maps: OffCpuMaps) -> None:
    """Emit: fill prev's stash entry (registers, kernel stack, user stack copy), or fall
    through to ``frame_pointers`` when no entry can be had."""
    regs = PT_REGS[config.arch]
    if config.dwarf == "some":
        a.mov(R1, SAVED)
        a.rsh(R1, 32)
        a.stx(W, R10, _TMP, R1)
        _lookup(a, maps.dwarf_pids, _TMP, "frame_pointers")
    _lookup(a, maps.stash, _TK, "stash_insert")
    a.ja("stash_ready")
    a.label("stash_insert")
    a.st(W, R10, _TMP, 0)
    _lookup(a, maps.zero, _TMP, "frame_pointers")
    a.mov(R3, R0, comment="a zeroed record")
    a.ld_map_fd(R1, maps.stash)
    a.stack_pointer(R2, _TK)
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    a.jeq(R0, 0, "stash_inserted")
    _inc(a, OffCpuStat.DWARF_STASH_FULL)
    a.ja("frame_pointers")
    a.label("stash_inserted")
    _lookup(a, maps.stash, _TK, "frame_pointers")
    a.label("stash_ready")
    a.mov(SAVED, R0, comment="r8 = prev's stash entry")
    # tgid and tid (one u64), then the comm (two).
    copies = (
        (KEY_TGID, REC_TGID),
        (KEY_COMM, REC_COMM),
        (KEY_COMM + 8, REC_COMM + 8),
        (KEY_PYTHON_STACK, REC_PYTHON_STACK),
    )
    for key_off, rec_off in copies:
        a.ldx(DW, R1, R10, _VAL + key_off)
        a.stx(DW, SAVED, rec_off, R1)
    a.call("get_current_task_btf")
    a.mov(R1, R0)
    a.call("task_pt_regs")
    for name, off in (("ip", REC_IP), ("sp", REC_SP), ("fp", REC_FP)):
        a.ldx(DW, R1, R0, regs[name], comment=f"user {name}")
        a.stx(DW, SAVED, off, R1)
    if config.kernel_stacks:
        a.mov(R1, CTX)
        a.mov(R2, SAVED)
        a.add(R2, REC_KSTACK)
        a.mov(R3, 8 * KSTACK_DEPTH)
        a.mov(R4, config.kernel_skip)
        a.call("get_stack")
        a.stx(W, SAVED, REC_KSTACK_BYTES, R0)
    else:
        a.st(W, SAVED, REC_KSTACK_BYTES, 0)
    # The top of the user stack; a read that would cross the stack's end fails as a whole, so
    # smaller copies follow (the stack's top is near), down to 512 bytes.
    sizes = []
    size = config.stack_copy
    while size >= 512:
        sizes.append(size)
        size //= 2
    for size in sizes:
        a.mov(R1, SAVED)
        a.add(R1, REC_HEADER)
        a.mov(R2, size)
        a.ldx(DW, R3, SAVED, REC_SP)
        a.call("probe_read_user")
        a.jeq(R0, 0, f"copied_{size}")
    _inc(a, OffCpuStat.DWARF_NO_STACK)
    a.st(W, SAVED, REC_STACK_LEN, 0)
    a.ja("dwarf_out_done")
    for size in sizes:
        a.label(f"copied_{size}")
        a.st(W, SAVED, REC_STACK_LEN, size)
        a.ja("dwarf_out_done")
    a.label("dwarf_out_done")
    a.st(W, R10, _VAL + START_FLAGS, FLAG_DWARF)
    a.ja("remember")


def _switch_out(a: Assembler, config: OffCpuConfig, maps: OffCpuMaps) -> None:
    """Emit the switch-out half: remember when and with which stacks a target left."""
    a.label("switch_out")
    a.call("get_current_pid_tgid")
    a.mov(SAVED, R0, comment="r8 = tgid << 32 | tid of prev")
    a.mov32(R1, R0)
    a.jeq(R1, 0, "exit", comment="the idle task")
    a.zero_stack(_VAL, START_SIZE)
    _prev_state(a, config)
    a.stx(W, R10, _VAL + KEY_STATE, R1)
    a.jset(R1, RAW_EXITING if config.raw else TP_EXITING, "exiting")
    _is_target(a, config, maps)
    if config.sample_below < 1 << 32:
        a.call("get_prandom_u32")
        a.mov32(R1, config.sample_below)  # < 2**32: fits the 32-bit immediate
        a.jlt(R0, R1, "sampled")
        _inc(a, OffCpuStat.UNSAMPLED)
        a.ja("exit")
        a.label("sampled")
    a.mov(R1, SAVED)
    a.rsh(R1, 32)
    a.stx(W, R10, _VAL + KEY_TGID, R1)
    a.stx(W, R10, _VAL + KEY_TID, SAVED)
    if config.python:
        emit_python_call(a, SAVED, _VAL + KEY_PYTHON_STACK)  # prev's frames: it is current
    if config.raw:
        a.stack_pointer(R1, _VAL + KEY_COMM)
        a.mov(R2, COMM_LEN)
        a.call("get_current_comm")
        a.ldx(DW, R1, CTX, RAW_PREV)
    else:
        for off in (0, 8):
            a.ldx(DW, R1, CTX, TP_PREV_COMM + off)
            a.stx(DW, R10, _VAL + KEY_COMM + off, R1)
        a.mov32(R1, SAVED, comment="the tid")
    a.stx(DW, R10, _TK, R1)
    a.st(W, R10, _VAL + KEY_USER_STACK, -1)
    a.st(W, R10, _VAL + KEY_KERNEL_STACK, -1)
    a.stx(W, R10, _VAL + KEY_STACK_SET, ACTIVE)
    if config.dwarf != "off" and config.user_stacks:
        _dwarf_switch_out(a, config, maps)
    a.label("frame_pointers")

    def stacks(i: int) -> None:
        if config.user_stacks:
            _stack_id(a, maps.stacks[i], BPF_F_USER_STACK, KEY_USER_STACK, "user")
        if config.kernel_stacks:
            _stack_id(a, maps.stacks[i], config.kernel_skip, KEY_KERNEL_STACK, "kernel")

    _for_each_set(a, stacks)
    a.label("remember")
    # The block starts now, after the stack walks: a thread is not charged for our own work
    # (which would inflate microsecond blocks, and bias sampled ones: only they pay for it).
    a.call("ktime_get_ns")
    a.stx(DW, R10, _VAL + START_TS, R0)
    # Insert with NOEXIST: an entry already there is a switch-out whose switch-in never came.
    a.ld_map_fd(R1, maps.start)
    a.stack_pointer(R2, _TK)
    a.stack_pointer(R3, _VAL)
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    a.jeq(R0, 0, "remembered")
    a.jne(R0, -errno.EEXIST, "start_full")
    _inc(a, OffCpuStat.UNMATCHED_SWITCH_OUTS)
    a.ld_map_fd(R1, maps.start)
    a.stack_pointer(R2, _TK)
    a.stack_pointer(R3, _VAL)
    a.mov(R4, 0)
    a.call("map_update_elem")
    a.jeq(R0, 0, "remembered")
    a.label("start_full")
    _inc(a, OffCpuStat.START_MAP_FULL)
    a.ja("exit")
    a.label("remembered")
    _inc(a, OffCpuStat.SWITCH_OUTS)
    a.ja("exit")
    a.label("exiting")
    if config.dwarf != "off":
        # The thread's stash entry goes with it (prev's key: its address or tid).
        if config.raw:
            a.ldx(DW, R1, CTX, RAW_PREV)
        else:
            a.mov32(R1, SAVED)
        a.stx(DW, R10, _TK, R1)
        a.ld_map_fd(R1, maps.stash)
        a.stack_pointer(R2, _TK)
        a.call("map_delete_elem")


def build_offcpu(config: OffCpuConfig, maps: OffCpuMaps) -> Assembler:
    """Assemble the off-CPU program for ``config`` over ``maps``."""
    if config.dwarf != "off" and (
        maps.ring is None
        or maps.stash is None
        or maps.zero is None
        or (config.dwarf == "some" and maps.dwarf_pids is None)
    ):
        raise ValueError("DWARF unwinding needs the ring, stash and zero maps (and dwarf_pids)")
    if config.python and maps.python is None:
        raise ValueError("Python frames need the walk's maps (python_walk.PythonMaps)")
    a = Assembler()
    a.mov(CTX, R1, comment="r6 = ctx")
    a.st(W, R10, _TMP, 0)
    _lookup(a, maps.stats, _TMP, "exit")
    a.mov(STATS, R0, comment="r7 = this CPU's counters")
    _lookup(a, maps.control, _TMP, "exit")
    a.ldx(W, ACTIVE, R0, 0, comment="r9 = the active set (0 or 1)")
    a.call("ktime_get_ns")
    a.stx(DW, R10, _NOW, R0)
    _switch_in(a, config, maps)
    _switch_out(a, config, maps)
    a.label("exit")
    # A classic tracepoint's program filters the event for every perf user of the tracepoint
    # when it returns 0 (perf_trace_run_bpf_submit): return 1 so that others still see it.
    a.ret(0 if config.raw else 1)
    if config.python:
        emit_python_walk(a, maps.python)
    return a


# The state a thread left the CPU in, as a label value.
RUNNABLE, SLEEPING, DISK, IDLE, STOPPED, PARKED, OTHER = (
    "runnable",
    "sleeping",
    "disk",
    "idle",
    "stopped",
    "parked",
    "other",
)


def decode_state(value: int, raw: bool) -> str:
    """The ``thread.state`` of a key's state field (``raw``: from the raw/BTF tracepoint).

    runnable: preempted (or yielded), still wanting the CPU; sleeping: interruptible sleep (S);
    disk: uninterruptible sleep (D), usually I/O; idle: a kernel thread's idle wait (I);
    stopped: stopped or traced; parked: a parked kernel thread.
    """
    if raw:
        if value & STATE_PREEMPTED or value == 0:
            return RUNNABLE
        if value & 0x2 and value & 0x400:  # TASK_UNINTERRUPTIBLE | TASK_NOLOAD: TASK_IDLE
            return IDLE
        if value & 0x1:
            return SLEEPING
        if value & 0x2:
            return DISK
        if value & 0xC:
            return STOPPED
        if value & 0x40:
            return PARKED
        return OTHER
    # The classic tracepoint reports one bit (TASK_REPORT), 0x100 when preempted.
    return {
        0: RUNNABLE,
        0x100: RUNNABLE,
        0x1: SLEEPING,
        0x2: DISK,
        0x80: IDLE,
        0x4: STOPPED,
        0x8: STOPPED,
        0x40: PARKED,
    }.get(value, OTHER)
