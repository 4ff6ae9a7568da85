"""What the off-CPU program and its user-space readers share: the layouts, declared once.

The program (:mod:`.offcpu_program`) fills these structs at the offsets the layouts give; the
drain (:mod:`.offcpu`) and the DWARF reader (:mod:`.offcpu_dwarf`) unpack them with the same
layouts (``pybpf.structs``). The stats value's slots are the members of :class:`OffCpuStat`,
named as the fields of :class:`~profiler.bpf.offcpu_stats.OffCpuStats` they add up to.
"""

from __future__ import annotations

import enum

from pybpf.structs import array, char, s32, struct_type, u32, u64

from .layouts import COMM_LEN, KSTACK_DEPTH, DwarfRecordHead

# The key of the counts map: where a thread waited, and how (hash maps compare every byte: the
# program zeroes it first). The values are nanoseconds.
OffCpuKey = struct_type(
    "OffCpuKey",
    tgid=u32,
    tid=u32,
    user_stack=s32,  # a stack id, or -errno
    kernel_stack=s32,
    comm=char(COMM_LEN),
    state=u32,  # the state the thread left in (see offcpu_program.decode_state)
    stack_set=u32,  # the set whose stack map holds the ids (bit 0), and STACK_NOT_KEPT
    python_stack=u64,  # the Python stack's id (profiler.bpf.python_walk), 0: none
)
STACK_NOT_KEPT = 2  # a DWARF block below the DWARF minimum: counted without a stack

# What a switch-out remembers (the start map's value, keyed by the task): the key its block
# will be counted under, when the block began, and where its stacks are.
OffCpuStart = struct_type("OffCpuStart", key=OffCpuKey, ts=u64, flags=u32)
FLAG_DWARF = 1  # the stacks are in the DWARF stash, not in the stack maps

# The DWARF stash entry and ring record: the CPU sampler's record head and kernel stack, then
# the block's nanoseconds and state (set at the switch-in); the user stack copy follows.
OffCpuRecord = struct_type(
    "OffCpuRecord",
    head=DwarfRecordHead,
    kstack=array(u64, KSTACK_DEPTH),
    ns=u64,
    state=u32,
    python_stack=u64,  # as in the key
)
OFF_CPU_RECORD_HEADER = OffCpuRecord.size


class OffCpuStat(enum.IntEnum):
    """Slots of the per-CPU stats value (one array element of ``len(OffCpuStat)`` u64s, looked
    up once per run); names are ``OffCpuStats`` fields."""

    SWITCH_OUTS = 0  # switch-outs remembered
    BLOCKS = 1  # switch-ins whose blocked time was counted
    BLOCKED_NS = 2  # ... and their nanoseconds (before any sampling scale)
    BELOW_MIN = 3  # blocks shorter than the minimum: not counted
    BELOW_MIN_NS = 4
    UNSAMPLED = 5  # switch-outs skipped by sampling
    START_MAP_FULL = 6  # switch-outs not remembered: their block is lost
    COUNTS_MAP_FULL = 7  # blocks lost because the counts map had no room for a new key
    COUNTS_MAP_FULL_NS = 8
    UNMATCHED_SWITCH_OUTS = 9  # a remembered switch-out whose switch-in never came
    USER_STACK_COLLISIONS = 10
    KERNEL_STACK_COLLISIONS = 11
    USER_STACK_ERRORS = 12
    KERNEL_STACK_ERRORS = 13
    DWARF_RECORDS = 14  # blocks sent to user space with a stack copy (DWARF)
    DWARF_RING_FULL = 15  # ... lost because the ring buffer was full
    DWARF_STASH_FULL = 16  # switch-outs that fell back to frame pointers: no stash entry free
    DWARF_NO_STACK = 17  # switch-outs whose user stack could not be copied
    DWARF_STASH_LOST = 18  # switch-ins whose stash entry was gone
    DWARF_SHORT = 19  # DWARF blocks below the DWARF minimum: counted without a stack
    DWARF_SHORT_NS = 20

    @property
    def field(self) -> str:
        """The ``OffCpuStats`` field this slot adds up to."""
        return self.name.lower()

    @property
    def offset(self) -> int:
        """The slot's byte offset in the stats value."""
        return 8 * self.value


STATS_SIZE = 8 * len(OffCpuStat)
