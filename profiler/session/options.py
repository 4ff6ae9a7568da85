"""What and how to profile, as one nested value: targets, sampling (the kernel side), frames.

Defaults are stated here once (the command line takes them from these classes) and every value
is checked when it is made: a bad one raises :class:`OptionError` with one line for the user,
before anything is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..bpf.offcpu_options import OffCpuOptions
from ..bpf.options import OptionError, SamplingOptions

MODES = ("auto", "on", "off")
VIEWS = ("", "samples", "cpu", "off_cpu", "wall")  # the sample types a profile can show


def _check_mode(name: str, value: str) -> None:
    if value not in MODES:
        raise OptionError(f"{name} must be one of {', '.join(MODES)}, not {value!r}")


@dataclass(frozen=True)
class Targets:
    """Which processes: ``pids`` (and their children when ``follow_children``), or the tasks of
    the cgroup v2 directory ``cgroup``; neither: the whole machine."""

    pids: tuple[int, ...] = ()
    cgroup: str | None = None
    follow_children: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "pids", tuple(self.pids))
        for pid in self.pids:
            if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
                raise OptionError(f"a pid must be a positive integer, not {pid!r}")
        if self.cgroup is not None and not os.path.isdir(self.cgroup):
            raise OptionError(f"--cgroup {self.cgroup}: not a directory (give a cgroup v2 path)")

    @property
    def whole_machine(self) -> bool:
        """Whether every process is profiled."""
        return not self.pids and self.cgroup is None


@dataclass(frozen=True)
class FrameOptions:
    """What becomes of the sampled addresses.

    ``debug_info``: DWARF file:line and inlined frames (``auto``: for chosen processes only, from
    the binaries themselves; a whole-machine profile uses symbol tables: DWARF of every binary
    costs seconds and memory. ``on``: also from separate debug files such as libc6-dbg's, whose
    index costs a third of a second for a libc).
    ``async_stacks``: logical async stacks for Rust Tokio (``auto``: where Tokio frames are
    seen). ``spawn_links``: Tokio tasks linked to the stack that spawned them (uprobes on the
    targets; needs ``Targets.pids``; each probe hit costs a trap: opt-in).
    """

    debug_info: str = "auto"
    async_stacks: str = "auto"
    spawn_links: bool = False

    def __post_init__(self) -> None:
        _check_mode("debug info", self.debug_info)
        _check_mode("async stacks", self.async_stacks)


@dataclass(frozen=True)
class SessionOptions:
    """One profiling session: targets, sampling and frames, and how often to drain.

    ``process_events``: follow exec/fork/exit from the kernel's proc connector (a process is
    snapshotted right after exec, so a short-lived one keeps its symbols; children are followed
    at once, and its symbols are loaded then). ``drain_interval``: seconds between drains of
    the kernel's maps (a counts map that fills up half way is drained at once). ``off_cpu``:
    also record where threads wait (None: CPU only). ``view``: the sample type the profile's
    folded stacks, flame graphs and top show (samples, cpu, off_cpu, wall; "": samples).
    """

    targets: Targets = field(default_factory=Targets)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    frames: FrameOptions = field(default_factory=FrameOptions)
    process_events: bool = True
    drain_interval: float = 5.0
    off_cpu: OffCpuOptions | None = None
    view: str = ""

    def __post_init__(self) -> None:
        if not 0.01 <= self.drain_interval <= 3600:
            raise OptionError(f"the drain interval must be 0.01-3600 s, not {self.drain_interval}")
        if self.frames.spawn_links and not self.targets.pids:
            raise OptionError("spawn links need target processes (--pid)")
        if self.view not in VIEWS:
            views = ", ".join(VIEWS[1:])
            raise OptionError(f"the sample type must be one of {views}, not {self.view!r}")
        if self.view in ("off_cpu", "wall") and self.off_cpu is None:
            raise OptionError(f"the {self.view} sample type needs off-CPU time (--off-cpu)")

    @property
    def uses_dwarf(self) -> bool:
        """Whether DWARF line tables and inlined frames are read (see ``FrameOptions``)."""
        if self.frames.debug_info == "auto":
            return not self.targets.whole_machine
        return self.frames.debug_info == "on"

    @property
    def uses_separate_debug_dwarf(self) -> bool:
        """Whether DWARF is also read from separate debug files (``debug_info="on"`` only)."""
        return self.frames.debug_info == "on"


__all__ = [
    "FrameOptions",
    "OffCpuOptions",
    "OptionError",
    "SamplingOptions",
    "SessionOptions",
    "Targets",
]
