"""Track ``tokio::spawn``: which stack spawned each task, and which task each thread polls.

:class:`SpawnTracker` finds the spawn and poll functions of a Tokio binary
(:mod:`profiler.bpf.spawn_symbols`), loads the three programs of
:mod:`profiler.bpf.spawn_programs` and attaches them with uprobes (for given processes, or every
process running the binary). A sampler reads ``tracker.current`` at each sample
(:func:`profiler.bpf.spawn_programs.emit_spawn_chain_lookup`) and user space resolves the stack
ids it gets with :meth:`SpawnTracker.spawn_stack`.

Spawn stacks are taken with frame pointers (``bpf_get_stackid``): binaries built without them get
truncated spawner stacks. Everything opened is closed exactly once (``close()``, context manager,
or on an error while starting).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

from . import spawn_programs as progs
from .spawn_symbols import ProbePoints, find_probe_points

_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class SpawnTrackerOptions:
    """Sizes of the tracker's maps."""

    max_tasks: int = 65536  # LRU: tasks whose spawn link is kept
    max_threads: int = 16384  # threads polling a task at once
    stack_map_size: int = 4096  # distinct spawner stacks
    max_stack_depth: int = 127


@dataclass(frozen=True)
class ProgramCost:
    """What ``kernel.bpf_stats_enabled`` measured for one program (0 when it is off)."""

    name: str
    run_cnt: int
    run_time_ns: int

    @property
    def ns_per_run(self) -> float:
        """Mean run time of the program in nanoseconds."""
        return self.run_time_ns / self.run_cnt if self.run_cnt else 0.0


def _machine() -> str:
    import platform

    return "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


class SpawnTracker:
    """The spawn-tracking maps and programs, and their uprobes on Tokio binaries.

    ``binary`` and ``pids`` (optional): attach at once, as :meth:`attach` does. One tracker
    serves any number of binaries and processes, so a sampler reads one ``current`` map.
    """

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        pids: Iterable[int] = (),
        options: SpawnTrackerOptions | None = None,
        points: ProbePoints | None = None,
    ) -> None:
        self.options = options or SpawnTrackerOptions()
        self._stack = contextlib.ExitStack()
        # Per process (-1: every process of a binary), its uprobes, closable on their own.
        self._attached: dict[tuple[str, int], contextlib.ExitStack] = {}
        self._closed = False
        self.probes = 0
        try:
            if binary is not None or points is not None:
                # Refuse a binary that is not Tokio before creating any kernel object.
                points = self._checked(points or find_probe_points(binary))
            self._open()
            if points is not None:
                self.attach(points, pids)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _checked(points: ProbePoints) -> ProbePoints:
        if not points.usable:
            raise LookupError(
                f"{points.binary}: no tokio spawn and raw::poll functions found "
                f"(spawns: {len(points.spawns)}, polls: {len(points.polls)}); "
                "is it a Tokio program with a symbol table?"
            )
        return points

    def _map(self, spec: MapSpec):
        m = spec.create()
        self._stack.callback(m.close)
        return m

    def _program(self, name: str, insns: object):
        spec = ProgramSpec(name=name, type=ProgramType.KPROBE, insns=insns, license="GPL")
        prog = spec.load()
        self._stack.callback(prog.close)
        return prog

    def _open(self) -> None:
        o = self.options
        arch = _machine()
        self.stacks = self._map(
            MapSpec(
                "ps_spawn_stacks", MapType.STACK_TRACE, 4, 8 * o.max_stack_depth, o.stack_map_size
            )
        )
        self.tasks = self._map(
            MapSpec("ps_tasks", MapType.LRU_HASH, progs.TASK_KEY_SIZE, progs.LINK_SIZE, o.max_tasks)
        )
        self.current = self._map(
            MapSpec("ps_current", MapType.LRU_HASH, 4, progs.LINK_SIZE, o.max_threads)
        )
        self.stats_map = self._map(MapSpec("ps_stats", MapType.PERCPU_ARRAY, 4, 8, progs.N_STATS))
        self.programs = {
            "ps_spawn_ret": self._program(
                "ps_spawn_ret",
                progs.build_spawn_return(
                    self.stacks, self.tasks, self.current, self.stats_map, arch
                ),
            ),
            "ps_poll_enter": self._program(
                "ps_poll_enter",
                progs.build_poll_enter(self.tasks, self.current, self.stats_map, arch),
            ),
            "ps_poll_exit": self._program("ps_poll_exit", progs.build_poll_exit(self.current)),
        }

    def attach(self, binary: str | os.PathLike[str] | ProbePoints, pids: Iterable[int] = ()) -> int:
        """Probe ``binary``'s spawn and poll functions in ``pids`` (empty: every process).

        Returns the number of uprobes opened. Raises ``LookupError`` for a binary without Tokio
        spawn/poll functions; on any error, the probes of this call are closed.
        """
        points = binary if isinstance(binary, ProbePoints) else find_probe_points(binary)
        points = self._checked(points)
        opened = 0
        for pid in list(pids) or [-1]:
            key = (points.binary, pid)
            if key in self._attached:
                continue
            with contextlib.ExitStack() as probes:
                for point in points.spawns:
                    self._probe(probes, points.binary, "ps_spawn_ret", point.offset, True, pid)
                for point in points.polls:
                    self._probe(probes, points.binary, "ps_poll_enter", point.offset, False, pid)
                    self._probe(probes, points.binary, "ps_poll_exit", point.offset, True, pid)
                self._attached[key] = probes.pop_all()
            count = len(points.spawns) + 2 * len(points.polls)
            self.probes += count
            opened += count
        return opened

    def _probe(
        self,
        probes: contextlib.ExitStack,
        binary: str,
        program: str,
        offset: int,
        retprobe: bool,
        pid: int,
    ) -> None:
        from pybpf.attach import attach_perf_event
        from pybpf.uprobe import open_uprobe

        event = open_uprobe(binary, offset=offset, retprobe=retprobe, pid=pid)
        probes.callback(event.close)
        link = attach_perf_event(self.programs[program], event)
        probes.callback(link.close)

    def detach(self, pid: int) -> None:
        """Close the uprobes of process ``pid`` (e.g. it exited)."""
        for key in [k for k in self._attached if k[1] == pid]:
            probes = self._attached.pop(key)
            probes.close()

    # -- reading ---------------------------------------------------------------------------
    def spawn_stack(self, stack_id: int) -> tuple[int, ...]:
        """The spawner's user stack (return addresses, innermost first) for a chain's stack id."""
        if stack_id < 0:
            return ()
        from .sampler import decode_stack

        raw = self.stacks.lookup(struct.pack("<I", stack_id))
        return decode_stack(raw) if raw else ()

    def read_stats(self) -> dict[str, int]:
        """Cumulative counters summed over CPUs: spawns, polls, linked polls, errors."""
        totals = {}
        for slot, name in enumerate(progs.STAT_NAMES):
            per_cpu = self.stats_map.lookup(struct.pack("<I", slot)) or []
            totals[name] = sum(
                _U64.unpack_from(v)[0] if isinstance(v, bytes) else int(v) for v in per_cpu
            )
        return totals

    def program_costs(self) -> list[ProgramCost]:
        """Run counts and run time of each program (needs ``sysctl kernel.bpf_stats_enabled=1``)."""
        costs = []
        for name, prog in self.programs.items():
            info = prog.info()
            costs.append(ProgramCost(name, info.run_cnt, info.run_time_ns))
        return costs

    def close(self) -> None:
        """Detach every probe and close the programs and maps, exactly once."""
        if self._closed:
            return
        self._closed = True
        try:
            for probes in self._attached.values():
                probes.close()
        finally:
            self._attached.clear()
            self._stack.close()

    def __enter__(self) -> SpawnTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
