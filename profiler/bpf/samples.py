"""What the kernel side hands to user space: raw samples (addresses, not names) and its counters.

Plain values (no BPF imports), so the user-space pipeline can be fed recorded samples without root.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RawSample:
    """Samples the kernel counted for one key (in-kernel aggregation: ``count`` hits).

    Stacks are lists of instruction addresses, leaf first. ``user_stack`` holds runtime addresses
    in process ``pid``; ``kernel_stack`` holds kernel addresses. An empty stack means none was
    taken (or it was lost: see the drain statistics).
    """

    pid: int  # tgid
    tid: int
    comm: str  # thread name (the kernel's comm of the sampled task)
    user_stack: tuple[int, ...]
    kernel_stack: tuple[int, ...]
    count: int = 1
    cgroup_id: int = 0
    user_stack_truncated: bool = False  # the unwinder stopped before the thread's entry
    # Stack ids (SpawnTracker) of the spawners of the Tokio task being polled, nearest first.
    spawn_chain: tuple[int, ...] = ()
    # Off-CPU (profiler.bpf.offcpu): nanoseconds blocked with these stacks (count is then 0),
    # and the state the thread waited in ("runnable", "sleeping", "disk"...).
    off_cpu_ns: int = 0
    thread_state: str = ""
    # CPython frames walked in the kernel (profiler.bpf.python_walk): the stack's id in the
    # py_stacks map with the thread's GIL/GC bits on top (0: no Python thread), resolved to
    # frames by profiler.python. ``dwarf_unwound``: the user stack came from DWARF unwinding.
    python_stack_id: int = 0
    dwarf_unwound: bool = False


@dataclass
class DrainStats:
    """What the kernel counted since the sampler started (cumulative)."""

    samples: int = 0
    user_stack_collisions: int = 0
    kernel_stack_collisions: int = 0
    user_stack_errors: int = 0
    kernel_stack_errors: int = 0
    counts_map_full: int = 0
    filtered: int = 0
    dwarf_samples: int = 0  # samples sent for DWARF unwinding
    dwarf_ring_full: int = 0  # ... that found the ring full and fell back to frame pointers
    dwarf_no_stack: int = 0  # ... whose user stack could not be copied
    unwind_truncated: int = 0  # DWARF samples whose unwinding stopped before the thread's entry
    # The CPython frame walk's counters (profiler.bpf.python_layouts.PyStat names), when it ran.
    python: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Samples that lost their count (map full)."""
        return self.counts_map_full

    @property
    def incomplete(self) -> int:
        """Samples whose stack could not be stored (collisions and stack errors)."""
        return (
            self.user_stack_collisions
            + self.kernel_stack_collisions
            + self.user_stack_errors
            + self.kernel_stack_errors
        )
