"""Plain data passed between the profiler's stages: raw samples in, symbolized frames out.

Every stage of the user-space pipeline (drain -> symbolize -> frame transforms -> profile) takes
and returns these values, so each stage is testable from recorded input without root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Frame kinds.
USER = "user"
KERNEL = "kernel"
JIT = "jit"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Frame:
    """One symbolized frame of a stack.

    ``function`` is the display name (demangled). ``inlined`` marks a frame that the compiler
    inlined into the next frame of the stack (its caller): such frames share the caller's
    address and become extra lines of one pprof Location.
    """

    function: str
    file: str = ""
    line: int = 0
    address: int = 0  # the sampled address (runtime address in the process), 0 if none
    module: str = ""  # the binary's path, "[kernel]", "[vdso]", "[jit]"...
    build_id: str = ""  # hex GNU build id of the module, "" if unknown
    kind: str = USER  # USER | KERNEL | JIT | UNKNOWN
    inlined: bool = False
    is_async: bool = False  # an async fn body (Rust futures), see profiler.frames.async_stacks
    mapping_start: int = 0  # runtime start/limit/file offset of the mapping (pprof Mapping)
    mapping_limit: int = 0
    mapping_offset: int = 0


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


@dataclass(frozen=True, slots=True)
class SymbolizedSample:
    """A sample after symbolization: one stack of frames, leaf first, and its labels."""

    frames: tuple[Frame, ...]
    count: int
    labels: dict[str, str | int] = field(default_factory=dict)


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
