"""What the sampler's BPF program and its user-space readers share: the layouts, declared once.

The program (:mod:`.sampler_program`) fills these structs at the offsets the layouts give; the
drain (:mod:`.sampler`) and the DWARF reader (:mod:`.dwarf_samples`) unpack them with the same
layouts (``pybpf.structs``: C alignment, the machine's byte order). The stats array's slots are
the members of :class:`Stat`, named as the fields of
:class:`~profiler.bpf.samples.DrainStats` they add up to.
"""

from __future__ import annotations

import enum
import struct

from pybpf.structs import array, char, s32, struct_type, u32, u64

COMM_LEN = 16
SPAWN_DEPTH = 4  # Tokio spawn chain: stack ids of the spawners of the polled task, or -1
KSTACK_DEPTH = 64  # kernel frames a DWARF record carries

# The key of the counts map (hash maps compare every byte: the program zeroes it first).
SampleKey = struct_type(
    "SampleKey",
    tgid=u32,
    tid=u32,
    user_stack=s32,  # a stack id, or -errno
    kernel_stack=s32,
    comm=char(COMM_LEN),
    spawn_chain=array(s32, SPAWN_DEPTH),
    leaf_caller=u64,  # the caller the frame-pointer walk skips (profiler.bpf.leaf_caller), or 0
    python_stack=u64,  # the Python stack's id (profiler.bpf.python_walk), 0: none
)

# What a sample sends for user-space unwinding (perf's --call-graph dwarf approach): the user
# registers (from task_pt_regs: right also when the sample hit the kernel), the kernel stack,
# then ``stack_len`` bytes of the top of the user stack right after the header.
DwarfRecordHead = struct_type(
    "DwarfRecordHead",
    tgid=u32,
    tid=u32,
    comm=char(COMM_LEN),
    ip=u64,
    sp=u64,
    fp=u64,
    stack_len=u32,  # bytes of user stack copied
    kstack_bytes=s32,  # bytes of kernel stack (bpf_get_stack's result) or -errno
)
DwarfRecord = struct_type(
    "DwarfRecord",
    head=DwarfRecordHead,
    kstack=array(u64, KSTACK_DEPTH),
    spawn_chain=array(s32, SPAWN_DEPTH),
    python_stack=u64,  # as in the sample key
)
RECORD_HEADER = DwarfRecord.size  # the user stack copy follows

# The one entry of the control array: which set of maps the program fills, and how many new
# keys it inserted into each set's counts map (it wakes the drain when one passes a threshold).
Control = struct_type("Control", active=u32, pad=u32, new_keys=array(u32, 2))


def spawn_chain(ids: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """A decoded ``spawn_chain`` field: the stack ids up to the first missing link (-1)."""
    out = []
    for stack_id in ids:
        if stack_id < 0:
            break
        out.append(stack_id)
    return tuple(out)


def unpacker(layout: type) -> struct.Struct:
    """A ``struct.Struct`` of a layout: flat tuples, for the hot paths that decode thousands."""
    return struct.Struct("=" + layout.fmt)


class Stat(enum.IntEnum):
    """Slots of the per-CPU ``stats`` array (u64 each); names are ``DrainStats`` fields."""

    SAMPLES = 0  # samples counted
    USER_STACK_COLLISIONS = 1  # bpf_get_stackid(user) said -EEXIST: the bucket holds another
    KERNEL_STACK_COLLISIONS = 2
    USER_STACK_ERRORS = 3  # any other error than "no stack" (-EFAULT)
    KERNEL_STACK_ERRORS = 4
    COUNTS_MAP_FULL = 5  # the counts map had no room for a new key: the sample is lost
    FILTERED = 6  # samples of processes not targeted, or idle
    DWARF_SAMPLES = 7  # samples sent with registers and a stack copy (DWARF unwinding)
    DWARF_RING_FULL = 8  # the ring buffer had no room: the sample fell back to frame pointers
    DWARF_NO_STACK = 9  # the user stack could not be read (e.g. a kernel thread)

    @property
    def field(self) -> str:
        """The ``DrainStats`` field this slot adds up to."""
        return self.name.lower()
