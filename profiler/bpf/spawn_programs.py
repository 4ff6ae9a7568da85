"""The spawn-tracking BPF programs (pybpf DSL) and the lookup a sampler adds to use them.

Three programs, attached to uprobes on a Tokio binary (see :mod:`profiler.bpf.spawn_symbols`):

- ``spawn_return`` (uretprobe on each spawn function): the return register holds the new task's
  header address. Store ``tasks[{tgid, header}] = chain`` where ``chain[0]`` is the spawner's
  user stack id (``bpf_get_stackid``, frame pointers; at a return probe the registers are the
  caller's, so the spawning frame itself is on the stack) and ``chain[1:]`` are the spawning
  task's own links (from ``current[tid]``): a task knows its spawner, its spawner's spawner...
- ``poll_enter`` (uprobe on each ``raw::poll``): the first argument is the header address;
  ``current[tid] = tasks[{tgid, header}]`` (or "no link" when the spawn was not seen).
- ``poll_exit`` (uretprobe on the same functions): delete ``current[tid]``.

A sampler then needs one lookup per sample, :func:`emit_spawn_chain_lookup`: ``current[tid]``
copied into its key. ``tasks`` is an LRU hash: entries of finished tasks age out (a header address
reused by a new task is overwritten at its spawn), and every poll's lookup keeps a live task's
entry recent.
"""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, R2, R3, R4, R6, R7, R8, R10, Assembler, W

from .stat_counters import emit_count_stat

# The chain of spawn stack ids one task carries: [its spawn, its spawner's spawn, ...].
SPAWN_DEPTH = 4
LINK_SIZE = 4 * SPAWN_DEPTH  # s32 per level: a stack id, or -1 (none) / -errno
NO_LINK = -1

# struct task_key: {u32 tgid; u32 pad (0); u64 header address}
TASK_KEY_SIZE = 16

# Slots of the per-CPU ``stats`` array (u64 each).
STAT_SPAWNS = 0  # spawns seen (return probes with a non-null handle)
STAT_SPAWN_STACK_ERRORS = 1  # spawner's stack not stored (collision in the stack map, or error)
STAT_TASKS_FULL = 2  # tasks map update failed
STAT_POLLS = 3  # task polls seen
STAT_POLLS_LINKED = 4  # ... of a task whose spawn was seen
N_STATS = 5
STAT_NAMES = ("spawns", "spawn_stack_errors", "tasks_map_errors", "polls", "polls_linked")

BPF_F_USER_STACK = 1 << 8

# struct pt_regs offsets of the first argument and the return value register.
PT_REGS_ARGS = {
    "x86_64": {"arg0": 112, "ret": 80},  # di, ax
    "aarch64": {"arg0": 0, "ret": 0},  # x0 both
}

# Stack layout shared by the three programs (offsets from r10).
_LINK = -LINK_SIZE  # the chain being built or copied
_TASK_KEY = _LINK - TASK_KEY_SIZE
_SCRATCH = _TASK_KEY - 8  # a u32 map key (tid or stat slot)


def emit_spawn_chain_lookup(
    a: Assembler,
    current: object,
    key_offset: int,
    scratch: int,
    tid_reg: object = R7,
    base: object = R10,
) -> None:
    """Emit: the ``SPAWN_DEPTH`` s32 at ``base + key_offset`` = ``current[tid]``, else -1 each.

    For a sampler: ``tid_reg`` holds ``bpf_get_current_pid_tgid()`` (its low 32 bits are the
    tid); ``scratch`` is a free 4-byte slot at ``r10 + scratch``; ``base`` is r10 (a key on the
    stack) or a register pointing to a ring-buffer record (not r0-r5). Clobbers r0-r5.
    """
    for level in range(SPAWN_DEPTH):
        a.st(W, base, key_offset + 4 * level, NO_LINK)
    a.stx(W, R10, scratch, tid_reg, comment="current[] is keyed by tid")
    a.ld_map_fd(R1, current)
    a.mov(R2, R10)
    a.add(R2, scratch)
    a.call("map_lookup_elem")
    done = f"spawn_chain_{len(a)}"
    a.jeq(R0, 0, done, comment="the thread polls no linked task")
    for level in range(SPAWN_DEPTH):
        a.ldx(W, R1, R0, 4 * level)
        a.stx(W, base, key_offset + 4 * level, R1)
    a.label(done)


def _prologue(a: Assembler) -> None:
    a.mov(R6, R1, comment="r6 = ctx (struct pt_regs *)")
    a.call("get_current_pid_tgid")
    a.mov(R7, R0, comment="r7 = tgid << 32 | tid")


def _task_key(a: Assembler) -> None:
    """Build ``{tgid, 0, header=r8}`` at ``_TASK_KEY``."""
    a.st(DW, R10, _TASK_KEY, 0)
    a.mov(R1, R7)
    a.rsh(R1, 32)
    a.stx(W, R10, _TASK_KEY, R1, comment="tgid")
    a.stx(DW, R10, _TASK_KEY + 8, R8, comment="task header address")


def build_spawn_return(
    stacks: object, tasks: object, current: object, stats: object, arch: str = "x86_64"
) -> Assembler:
    """The uretprobe program on spawn functions (see the module docstring)."""
    a = Assembler()
    _prologue(a)
    a.ldx(DW, R8, R6, PT_REGS_ARGS[arch]["ret"], comment="r8 = JoinHandle = task header")
    a.jeq(R8, 0, "out")
    a.mov(R1, R6)
    a.ld_map_fd(R2, stacks)
    a.mov(R3, BPF_F_USER_STACK)
    a.call("get_stackid")
    a.stx(W, R10, _LINK, R0, comment="chain[0] = the spawner's stack")
    a.jsge(R0, 0, "stack_ok")
    emit_count_stat(a, stats, STAT_SPAWN_STACK_ERRORS, _SCRATCH)
    a.label("stack_ok")
    # chain[1:] = the spawning task's chain[:-1] (the thread's current task), else -1.
    for level in range(1, SPAWN_DEPTH):
        a.st(W, R10, _LINK + 4 * level, NO_LINK)
    a.stx(W, R10, _SCRATCH, R7)
    a.ld_map_fd(R1, current)
    a.mov(R2, R10)
    a.add(R2, _SCRATCH)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, "no_parent", comment="spawned outside any task (e.g. in block_on)")
    for level in range(1, SPAWN_DEPTH):
        a.ldx(W, R1, R0, 4 * (level - 1))
        a.stx(W, R10, _LINK + 4 * level, R1)
    a.label("no_parent")
    _task_key(a)
    a.ld_map_fd(R1, tasks)
    a.mov(R2, R10)
    a.add(R2, _TASK_KEY)
    a.mov(R3, R10)
    a.add(R3, _LINK)
    a.mov(R4, 0)
    a.call("map_update_elem")
    a.jeq(R0, 0, "stored")
    emit_count_stat(a, stats, STAT_TASKS_FULL, _SCRATCH)
    a.label("stored")
    emit_count_stat(a, stats, STAT_SPAWNS, _SCRATCH)
    a.label("out")
    a.mov(R0, 0)
    a.exit()
    return a


def build_poll_enter(
    tasks: object, current: object, stats: object, arch: str = "x86_64"
) -> Assembler:
    """The uprobe program on ``raw::poll``: ``current[tid] = tasks[{tgid, header}]``."""
    a = Assembler()
    _prologue(a)
    a.ldx(DW, R8, R6, PT_REGS_ARGS[arch]["arg0"], comment="r8 = task header (1st argument)")
    _task_key(a)
    a.ld_map_fd(R1, tasks)
    a.mov(R2, R10)
    a.add(R2, _TASK_KEY)
    a.call("map_lookup_elem")
    a.jne(R0, 0, "linked")
    for level in range(SPAWN_DEPTH):
        a.st(W, R10, _LINK + 4 * level, NO_LINK)
    a.ja("store")
    a.label("linked")
    for level in range(SPAWN_DEPTH):
        a.ldx(W, R1, R0, 4 * level)
        a.stx(W, R10, _LINK + 4 * level, R1)
    emit_count_stat(a, stats, STAT_POLLS_LINKED, _SCRATCH)
    a.label("store")
    a.stx(W, R10, _SCRATCH, R7, comment="key: tid")
    a.ld_map_fd(R1, current)
    a.mov(R2, R10)
    a.add(R2, _SCRATCH)
    a.mov(R3, R10)
    a.add(R3, _LINK)
    a.mov(R4, 0)
    a.call("map_update_elem")
    emit_count_stat(a, stats, STAT_POLLS, _SCRATCH)
    a.mov(R0, 0)
    a.exit()
    return a


def build_poll_exit(current: object) -> Assembler:
    """The uretprobe program on ``raw::poll``: the thread polls no task any more."""
    a = Assembler()
    a.call("get_current_pid_tgid")
    a.stx(W, R10, _SCRATCH, R0, comment="key: tid")
    a.ld_map_fd(R1, current)
    a.mov(R2, R10)
    a.add(R2, _SCRATCH)
    a.call("map_delete_elem")
    a.mov(R0, 0)
    a.exit()
    return a
