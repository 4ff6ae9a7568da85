"""The kernel side of off-CPU profiling: maps, the context-switch program, its attachment.

:class:`OffCpuSampler` owns every kernel object it creates and closes them all exactly once (on
``close()``, on an error halfway through start, and via the context manager). Maps it is given
(the CPU sampler's ``targets`` and ``dwarf_pids``, so one update reaches both programs) stay
their owner's. :meth:`OffCpuSampler.drain` flips the active set of maps, reads and clears the
idle counts map, and returns :class:`~profiler.bpf.samples.RawSample` values whose
``off_cpu_ns`` is the blocked time (scaled by 1/p when switches are sampled) and
``thread_state`` the state the thread waited in. Nothing is lost at the interval boundary (see
:mod:`profiler.bpf.offcpu_program`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pybpf.errors import BPFError
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

from . import offcpu_program as op
from .layouts import unpacker
from .offcpu_layouts import (
    FLAG_DWARF,
    STACK_NOT_KEPT,
    STATS_SIZE,
    OffCpuKey,
    OffCpuStart,
    OffCpuStat,
)
from .offcpu_options import OffCpuOptions
from .offcpu_stats import OffCpuStats
from .options import SamplingOptions
from .sampler import FLIP_GRACE_S, _machine, decode_stack
from .samples import RawSample

if TYPE_CHECKING:
    from ..process.registry import ProcessRegistry
    from ..unwind import TableCache
    from .python_walk import PythonMaps

log = logging.getLogger("profiler.offcpu")

_KEY = unpacker(OffCpuKey)
_START = unpacker(OffCpuStart)  # the key's fields, then ts and flags
_STATS = struct.Struct(f"={len(OffCpuStat)}Q")
_U64 = struct.Struct("=Q")
_U32 = struct.Struct("=I")
BPF_F_NO_PREALLOC = 1


def sample_threshold(p: float) -> int:
    """The program's ``sample_below`` for probability ``p``: remember if prandom() < it."""
    if not 0 < p <= 1:
        raise ValueError(f"the off-CPU sampling probability must be in (0, 1], not {p}")
    return max(1, min(1 << 32, round(p * (1 << 32))))


class OffCpuSampler:
    """Loads the off-CPU program, attaches it to ``sched_switch``, drains what it counted."""

    def __init__(
        self,
        options: OffCpuOptions,
        sampling: SamplingOptions,
        *,
        pids: Iterable[int] = (),
        cgroup: str | None = None,
        registry: ProcessRegistry | None = None,
        table_cache: TableCache | None = None,
        dwarf_pids: Iterable[int] = (),
        targets_map: object | None = None,
        dwarf_pids_map: object | None = None,
        python_maps: PythonMaps | None = None,
    ) -> None:
        """``options``: what to record; ``sampling``: the stacks (user/kernel, unwinding, map
        sizes and depth), as the CPU sampler takes them. ``pids``: only these processes
        (tgids), else ``cgroup`` (a cgroup v2 directory: its tasks and its descendants'), else
        every process. ``registry``: the session's processes (the DWARF path looks up their
        maps); ``table_cache``: unwind tables to share; ``dwarf_pids``: with ``unwind="auto"``,
        the processes unwound with DWARF from the start. ``targets_map`` and
        ``dwarf_pids_map``: the CPU sampler's maps (tgid -> u8) to share instead of our own;
        ``python_maps``: the CPU sampler's CPython walk (its threads, layouts and stacks): the
        frames of a thread leaving the CPU are walked as at a CPU sample."""
        self.options = options
        self.sampling = sampling
        self._pids = sorted(set(pids))
        self._cgroup = cgroup
        self._registry = registry
        self._table_cache = table_cache
        self._initial_dwarf_pids = sorted(set(dwarf_pids))
        self._shared_targets = targets_map
        self._shared_dwarf_pids = dwarf_pids_map
        self._python_maps = python_maps
        self._stack = contextlib.ExitStack()
        self._active = 0
        self._closed = False
        self._attachment: object | None = None
        # Per set of maps: stack id -> addresses, valid until that set's stack map is cleared.
        self._stack_ids: tuple[dict[int, tuple[int, ...]], ...] = ({}, {})
        self.stats = OffCpuStats()
        self.hook = ""
        self.dwarf = None
        threshold = sample_threshold(options.sample)
        # The weight of one remembered block: exact 1/p for the threshold actually used.
        self.scale = (1 << 32) / threshold
        try:
            self._open(threshold)
        except BaseException:
            self._stack.close()
            raise

    # -- setup -----------------------------------------------------------------------------
    def _map(self, spec: MapSpec):
        m = spec.create()
        self._stack.callback(m.close)
        return m

    def _open(self, threshold: int) -> None:
        o, s = self.options, self.sampling
        depth = s.max_stack_depth
        self.counts = tuple(
            self._map(MapSpec(f"pp_off_counts{i}", MapType.HASH, op.KEY_SIZE, 8, s.counts_map_size))
            for i in (0, 1)
        )
        self.stacks = tuple(
            self._map(
                MapSpec(f"pp_off_stacks{i}", MapType.STACK_TRACE, 4, 8 * depth, s.stack_map_size)
            )
            for i in (0, 1)
        )
        self.control = self._map(MapSpec("pp_off_control", MapType.ARRAY, 4, 4, 1))
        self.stats_map = self._map(MapSpec("pp_off_stats", MapType.PERCPU_ARRAY, 4, STATS_SIZE, 1))
        self.start = self._map(
            MapSpec("pp_off_start", MapType.HASH, 8, op.START_SIZE, o.start_map_size)
        )
        target = "all"
        self.targets = self.cgroup_map = None
        if self._pids:
            target = "pids"
            self.targets = self._shared_targets
            if self.targets is None:
                self.targets = self._map(MapSpec("pp_off_targets", MapType.HASH, 4, 1, 65536))
                self.add_targets(self._pids)
        elif self._cgroup:
            target = "cgroup"
            self.cgroup_map = self._map(MapSpec("pp_off_cgroup", MapType.CGROUP_ARRAY, 4, 4, 1))
            fd = os.open(self._cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.cgroup_map.update(_U32.pack(0), _U32.pack(fd))
            finally:
                os.close(fd)
        dwarf_mode = {"fp": "off", "dwarf": "all", "auto": "some"}[s.unwind]
        if not s.user_stacks:
            dwarf_mode = "off"
        self.ring = self.stash = self.zero = self.dwarf_pids = None
        if dwarf_mode != "off":
            record_size = op.REC_HEADER + s.stack_copy_size
            self.ring = self._map(MapSpec("pp_off_ring", MapType.RINGBUF, 0, 0, o.ring_size))
            self.stash = self._map(
                MapSpec(
                    "pp_off_stash", MapType.HASH, 8, record_size, o.stash_size, BPF_F_NO_PREALLOC
                )
            )
            self.zero = self._map(MapSpec("pp_off_zero", MapType.ARRAY, 4, record_size, 1))
            if dwarf_mode == "some":
                self.dwarf_pids = self._shared_dwarf_pids
                if self.dwarf_pids is None:
                    self.dwarf_pids = self._map(
                        MapSpec("pp_off_dwarf_pids", MapType.HASH, 4, 1, 65536)
                    )
                    self.add_dwarf_pids(self._initial_dwarf_pids)
        maps = op.OffCpuMaps(
            counts=self.counts,
            stacks=self.stacks,
            control=self.control,
            stats=self.stats_map,
            start=self.start,
            targets=self.targets,
            cgroup=self.cgroup_map,
            ring=self.ring,
            stash=self.stash,
            zero=self.zero,
            dwarf_pids=self.dwarf_pids,
            python=self._python_maps,
        )
        if o.hook != "auto":
            hooks: tuple[str, ...] = (o.hook,)
        elif target == "all":
            hooks = ("tracepoint", "raw_tp")  # every switch is a target: cheaper stack walks
        else:
            hooks = ("raw_tp", "tracepoint")  # most switches are not: no trace record to build
        errors: list[Exception] = []
        for hook in hooks:
            config = op.OffCpuConfig(
                hook=hook,
                user_stacks=s.user_stacks,
                kernel_stacks=s.kernel_stacks,
                target=target,
                min_ns=o.min_ns,
                sample_below=threshold,
                dwarf=dwarf_mode,
                stack_copy=s.stack_copy_size,
                dwarf_min_ns=o.dwarf_min_ns,
                arch=_machine(),
                python=self._python_maps is not None,
            )
            try:
                self._load_and_attach(config, maps)
            except (BPFError, OSError) as exc:
                errors.append(exc)
                if o.hook != "auto":
                    raise
                log.info("off-CPU: the %s hook is not available (%s)", hook, exc)
                continue
            self.hook, self.config = hook, config
            break
        else:
            raise errors[-1]
        if self.ring is not None:
            from .offcpu_dwarf import OffCpuDwarfRecords

            if self._registry is None:
                from ..process.registry import ProcessRegistry

                self._registry = ProcessRegistry()
            self.dwarf = OffCpuDwarfRecords(
                self.ring, self._registry, self._table_cache, raw=self.config.raw
            )
            self._stack.callback(self.dwarf.close)

    def _load_and_attach(self, config: op.OffCpuConfig, maps: op.OffCpuMaps) -> None:
        """Load the program for ``config.hook`` and attach it; on failure nothing stays open."""
        if config.hook == "tp_btf":
            raise ValueError("tp_btf programs are loaded by the benchmark only (bench/)")
        insns = op.build_offcpu(config, maps)
        kind = ProgramType.TRACEPOINT if config.hook == "tracepoint" else ProgramType.RAW_TRACEPOINT
        program = ProgramSpec(name="pp_offcpu", type=kind, insns=insns, license="GPL").load()
        with contextlib.ExitStack() as undo:
            undo.callback(program.close)
            if config.hook == "tracepoint":
                from pybpf.attach import attach_perf_event

                event = _open_counting_tracepoint("sched:sched_switch")
                undo.callback(event.close)
                attachment = attach_perf_event(program, event)
            else:
                from pybpf.raw_tracepoint import attach_raw_tracepoint

                attachment = attach_raw_tracepoint(program, "sched_switch")
            undo.callback(attachment.close)
            closers = undo.pop_all()
        self._stack.push(closers)
        self.program, self.insns, self._attachment = program, insns, attachment

    # -- targets ---------------------------------------------------------------------------
    def add_targets(self, pids: Iterable[int]) -> None:
        """Add processes (tgids) to the in-kernel filter (when the targets map is our own)."""
        if self.targets is None or self.targets is self._shared_targets:
            return
        for pid in pids:
            self.targets.update(_U32.pack(pid), b"\x01")

    def remove_targets(self, pids: Iterable[int]) -> None:
        """Take tgids out of our own filter (they exited: the pid may be reused)."""
        if self.targets is None or self.targets is self._shared_targets:
            return
        for pid in pids:
            with contextlib.suppress(KeyError, OSError):
                self.targets.delete(_U32.pack(pid))

    def add_dwarf_pids(self, pids: Iterable[int]) -> None:
        """Unwind these tgids with DWARF (when the dwarf_pids map is our own)."""
        if self.dwarf_pids is None or self.dwarf_pids is self._shared_dwarf_pids:
            return
        for pid in pids:
            self.dwarf_pids.update(_U32.pack(pid), b"\x01")

    def disable(self) -> None:
        """Detach the program (the maps stay): a final drain then reads a set nothing writes,
        and every DWARF record sent (a thread's last block may be its longest). Threads still
        blocked now are not counted (:attr:`OffCpuStats.open_blocks`)."""
        if self._attachment is not None:
            with contextlib.suppress(OSError):
                self._attachment.close()
        if self.dwarf is not None:
            self.dwarf.stop_reading()

    # -- reading ---------------------------------------------------------------------------
    def read_stats(self) -> OffCpuStats:
        """Sum the per-CPU counters (cumulative), plus the threads blocked right now."""
        per_cpu = self.stats_map.lookup(_U32.pack(0)) or []
        totals = [0] * len(OffCpuStat)
        for value in per_cpu:
            for i, v in enumerate(_STATS.unpack_from(bytes(value))):
                totals[i] += v
        stats = OffCpuStats(**{slot.field: totals[slot] for slot in OffCpuStat})
        stats.missed_events = _recursion_misses(self.program)
        with contextlib.suppress(OSError):
            stats.open_blocks = len(self.start.lookup_batch())
        if self.dwarf is not None:
            stats.unwind_truncated = self.dwarf.truncated
        self.stats = stats
        return stats

    def drain(self) -> list[RawSample]:
        """Flip to the other set of maps, then read and clear the counts of the set that was
        active. Each key's stacks are read from the set it names (a block that began before the
        flip keeps the stacks it was taken with)."""
        idle = self._active
        self._active ^= 1
        self.control.update(_U32.pack(0), _U32.pack(self._active))
        time.sleep(FLIP_GRACE_S)
        entries = self.counts[idle].lookup_and_delete_batch()
        samples = []
        comms: dict[bytes, str] = {}
        states: dict[int, str] = {}
        raw = self.config.raw
        for key, value in entries:
            tgid, tid, ustack, kstack, comm, state, stack_set, python = _KEY.unpack_from(key)
            if stack_set & STACK_NOT_KEPT:
                ustack = kstack = -1
            name = comms.get(comm)
            if name is None:
                name = comms[comm] = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
            label = states.get(state)
            if label is None:
                label = states[state] = op.decode_state(state, raw)
            ns = _U64.unpack_from(bytes(value))[0]
            samples.append(
                RawSample(
                    pid=tgid,
                    tid=tid,
                    comm=name,
                    user_stack=self._stack_of(stack_set & 1, ustack),
                    kernel_stack=self._stack_of(stack_set & 1, kstack),
                    count=0,
                    off_cpu_ns=round(ns * self.scale),
                    thread_state=label,
                    python_stack_id=python,
                )
            )
        if len(self._stack_ids[idle]) > self.sampling.stack_map_size // 2:
            self._clear_stacks(idle)
        if self.dwarf is not None:
            for sample in self.dwarf.take():
                samples.append(_scaled(sample, self.scale))
        return samples

    def _stack_of(self, which: int, stack_id: int) -> tuple[int, ...]:
        if stack_id < 0:
            return ()
        cache = self._stack_ids[which]
        found = cache.get(stack_id)
        if found is None:
            raw = self.stacks[which].lookup(_U32.pack(stack_id))
            found = decode_stack(raw) if raw else ()
            cache[stack_id] = found
        return found

    def _clear_stacks(self, which: int) -> None:
        """Empty the idle set's stack map but for the ids still referred to.

        A thread blocked since before the flip holds stack ids of this set in its remembered
        switch-out, and a block that ended since the flip left a count in the active counts map
        naming this set. The start map is read first: a switch-in deletes its entry only after
        adding its count, so an id missed there is found among the counts. No new ids appear in
        an idle set, so what is kept stays valid.
        """
        keep: set[int] = set()
        for _key, value in self.start.lookup_batch():
            _, _, ustack, kstack, _, _, stack_set, _, _, flags = _START.unpack_from(value)
            if not flags & FLAG_DWARF and stack_set == which:
                keep.update((ustack, kstack))
        for key, _value in self.counts[self._active].lookup_batch():
            _, _, ustack, kstack, _, _, stack_set, _ = _KEY.unpack_from(key)
            if stack_set == which:
                keep.update((ustack, kstack))
        stacks = self.stacks[which]
        for raw_id in list(stacks.raw_keys()):
            if _U32.unpack(raw_id)[0] not in keep:
                with contextlib.suppress(KeyError, OSError):
                    stacks.delete(raw_id)
        cache = self._stack_ids[which]
        for stack_id in [i for i in cache if i not in keep]:
            del cache[stack_id]

    def close(self) -> None:
        """Detach and close everything, exactly once."""
        if self._closed:
            return
        self._closed = True
        self._stack.close()

    def __enter__(self) -> OffCpuSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_counting_tracepoint(name: str) -> object:
    """A tracepoint perf event that only counts (``sample_period`` 0): the program hangs on
    it, and since the program lets every event through (for other perf users), our own event
    then costs a counter increment, not a sample written nowhere."""
    from pybpf.perf_event import PerfType, new_attr, open_perf_event
    from pybpf.tracefs import tracepoint_id

    attr = new_attr(type=PerfType.TRACEPOINT, config=tracepoint_id(name))
    return open_perf_event(attr, pid=-1, cpu=0, description=f"tracepoint {name} (counting)")


def _scaled(sample: RawSample, scale: float) -> RawSample:
    if scale == 1.0:
        return sample
    from dataclasses import replace

    return replace(sample, off_cpu_ns=round(sample.off_cpu_ns * scale))


def _recursion_misses(program: object) -> int:
    """How often the kernel skipped the program (it was running already on that CPU)."""
    from pybpf import bpf_commands as cmds

    try:
        return int(cmds.obj_get_info_by_fd(program.fd, "struct bpf_prog_info").recursion_misses)
    except (OSError, AttributeError, ValueError):
        return 0


__all__ = ["OffCpuSampler", "sample_threshold"]
