"""What the off-CPU program counted: blocks, their time, and everything it dropped.

Plain values (no BPF imports), like :class:`~profiler.bpf.samples.DrainStats`: the output side
reads them for the profile's comments and the command line's summary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OffCpuStats:
    """What the off-CPU program counted since it started (cumulative), and what is open.

    The first fields are the slots of :class:`~profiler.bpf.offcpu_layouts.OffCpuStat`, in
    order; the last three are read from user space.
    """

    switch_outs: int = 0
    blocks: int = 0
    blocked_ns: int = 0
    below_min: int = 0
    below_min_ns: int = 0
    unsampled: int = 0
    start_map_full: int = 0
    counts_map_full: int = 0
    counts_map_full_ns: int = 0
    unmatched_switch_outs: int = 0
    user_stack_collisions: int = 0
    kernel_stack_collisions: int = 0
    user_stack_errors: int = 0
    kernel_stack_errors: int = 0
    dwarf_records: int = 0
    dwarf_ring_full: int = 0
    dwarf_stash_full: int = 0
    dwarf_no_stack: int = 0
    dwarf_stash_lost: int = 0
    dwarf_short: int = 0  # DWARF blocks below the DWARF minimum, counted without a stack
    dwarf_short_ns: int = 0
    missed_events: int = 0  # switches the kernel did not run the program for (recursion)
    open_blocks: int = 0  # threads still blocked when read: their block is not counted yet
    unwind_truncated: int = 0  # DWARF records whose unwinding stopped early

    @property
    def lost(self) -> int:
        """Blocks whose time is lost (maps full, ring full, stash lost)."""
        return (
            self.start_map_full
            + self.counts_map_full
            + self.dwarf_ring_full
            + self.dwarf_stash_lost
        )
