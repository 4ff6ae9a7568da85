"""How the kernel side samples: one value, validated when made, defaults stated once.

The session nests it in its own options and the command line takes its defaults from here, so a
bad value is refused with one clear line before anything is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_FREQ = 10_000  # samples per second per CPU; above this the sampler costs more than it tells
MAX_STACK_DEPTH = 127  # the kernel's default kernel.perf_event_max_stack
MAX_STACK_MAP_SIZE = 1 << 20
MIN_STACK_COPY = 512
MAX_STACK_COPY = 1 << 16
UNWIND_MODES = ("auto", "fp", "dwarf")
PYTHON_MODES = ("auto", "on", "off")
MAX_PYTHON_STACKS = 1 << 16


class OptionError(ValueError):
    """An option out of range or of the wrong kind; the message is one line for the user."""


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionError(f"{name} must be an integer from {low} to {high}, not {value!r}")


@dataclass(frozen=True)
class SamplingOptions:
    """What the BPF sampler does.

    ``unwind``: user stacks by frame pointers (``"fp"``), by DWARF CFI over a copied stack for
    every process (``"dwarf"``), or per process as its binaries need (``"auto"``: the session
    chooses). ``stack_copy_size``: bytes of user stack copied per DWARF sample (a power of two).
    ``cpus``: ``None`` for every online CPU. ``ring_size``: bytes of the DWARF ring buffer, 0 to
    size it from the rate. ``leaf_callers``: recover the caller a frame-pointer walk skips (a
    frameless leaf, a prologue or epilogue: :mod:`profiler.bpf.leaf_caller`); off only to measure
    what it costs. ``python``: walk CPython frames in the kernel (``auto``: in every process
    where a CPython 3.11+ is found; ``on``: the same, and say for each target where not;
    ``off``: native stacks only); ``python_stacks``: distinct Python stacks the kernel keeps
    between two drains.
    """

    freq: int = 99
    user_stacks: bool = True
    kernel_stacks: bool = True
    include_idle: bool = False
    stack_map_size: int = 10000
    counts_map_size: int = 10240
    max_stack_depth: int = MAX_STACK_DEPTH
    unwind: str = "auto"
    stack_copy_size: int = 8192
    cpus: tuple[int, ...] | None = None
    ring_size: int = 0
    leaf_callers: bool = True
    python: str = "auto"
    python_stacks: int = 8192

    def __post_init__(self) -> None:
        _check_int("the frequency (--freq)", self.freq, 1, MAX_FREQ)
        _check_int("the stack map size", self.stack_map_size, 1, MAX_STACK_MAP_SIZE)
        _check_int("the counts map size", self.counts_map_size, 1, MAX_STACK_MAP_SIZE)
        _check_int("the stack depth", self.max_stack_depth, 1, MAX_STACK_DEPTH)
        if self.unwind not in UNWIND_MODES:
            modes = ", ".join(UNWIND_MODES)
            raise OptionError(f"unwind must be one of {modes}, not {self.unwind!r}")
        size = self.stack_copy_size
        _check_int("the stack copy size", size, MIN_STACK_COPY, MAX_STACK_COPY)
        if size & (size - 1):
            raise OptionError(f"the stack copy size must be a power of two, not {size}")
        ring = self.ring_size
        if ring and (ring < 4096 or ring & (ring - 1)):
            raise OptionError(f"the ring size must be a power of two of 4096 or more, not {ring}")
        if self.python not in PYTHON_MODES:
            modes = ", ".join(PYTHON_MODES)
            raise OptionError(f"python must be one of {modes}, not {self.python!r}")
        _check_int("the Python stacks map size", self.python_stacks, 1, MAX_PYTHON_STACKS)
        if not (self.user_stacks or self.kernel_stacks):
            raise OptionError("with neither user nor kernel stacks there is nothing to sample")
