"""How the kernel side records off-CPU time: one value, validated when made, defaults stated once.

The session nests it in its options (``SessionOptions.off_cpu``; None: no off-CPU time) and the
command line takes its defaults from here. What the stacks are (user/kernel, unwinding, map
sizes, depth) is the CPU sampler's :class:`~profiler.bpf.options.SamplingOptions`: both programs
see the same threads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import OptionError

# Blocks shorter than this are not counted by default. Measured here (bench/test_bench_offcpu.py,
# test_minimum_blocked_time): the minimum does not change the cost of a frame-pointer switch
# (the stack walks happen at the switch-out, before the length is known; the count it saves is
# ~30 of ~1 500 ns), and 1 us dropped no measurable time (blocks are rarely shorter than a
# switch) while 1 ms dropped 6 % of a whole machine's off-CPU time. So: 1 us, as BCC's
# offcputime. Blocks of DWARF-unwound processes have their own floor, DWARF_MIN_NS.
DEFAULT_MIN_NS = 1_000
# Each DWARF block is a ring record (8.8 KiB) unwound in Python (16 us each here, tables cached),
# so their rate must be bounded: a thread can send at most 1 / DWARF_MIN_NS records a second
# (<= 1.6 % of a core per thread at 1 ms); shorter blocks are counted without a stack.
DWARF_MIN_NS = 1_000_000
HOOKS = ("auto", "tracepoint", "raw_tp", "tp_btf")
MAX_MIN_NS = 3600 * 10**9


def _check_size(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionError(f"{name} must be an integer from {low} to {high}, not {value!r}")


@dataclass(frozen=True)
class OffCpuOptions:
    """What the off-CPU program records.

    ``min_ns``: blocks shorter than this are not counted (they are reported, with their time).
    ``sample``: the probability that a switch-out is remembered; each remembered block weighs
    1/p, so totals estimate all blocks. ``hook``: the ``sched_switch`` form, ``"auto"`` (the
    whole machine: the classic tracepoint; pids or a cgroup: the raw one; each falls back to
    the other; see :mod:`profiler.bpf.offcpu_program` for the measurements), ``"tracepoint"``,
    ``"raw_tp"``, or ``"tp_btf"`` (measured by the benchmark only, which loads it itself).
    ``start_map_size``: threads blocked at once that can be remembered;
    ``stash_size``: threads of DWARF-unwound processes with a stack copy stashed at once;
    ``dwarf_min_ns``: DWARF blocks shorter than this are counted without a stack (each costs a
    ring record and an unwinding); ``ring_size``: bytes of the DWARF ring buffer.
    """

    min_ns: int = DEFAULT_MIN_NS
    sample: float = 1.0
    hook: str = "auto"
    start_map_size: int = 65536
    stash_size: int = 1024
    dwarf_min_ns: int = DWARF_MIN_NS
    ring_size: int = 4 << 20

    def __post_init__(self) -> None:
        _check_size("the off-CPU minimum (--off-cpu-min, ns)", self.min_ns, 0, MAX_MIN_NS)
        _check_size("the DWARF off-CPU minimum (ns)", self.dwarf_min_ns, 0, MAX_MIN_NS)
        p = self.sample
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
            raise OptionError(f"--off-cpu-sample must be a probability in (0, 1], not {p!r}")
        if self.hook not in HOOKS:
            hooks = ", ".join(HOOKS)
            raise OptionError(f"the off-CPU hook must be one of {hooks}, not {self.hook!r}")
        _check_size("the off-CPU start map size", self.start_map_size, 1, 1 << 22)
        _check_size("the off-CPU stash size", self.stash_size, 1, 1 << 20)
        ring = self.ring_size
        if ring < 4096 or ring & (ring - 1):
            raise OptionError(f"the ring size must be a power of two of 4096 or more, not {ring}")
