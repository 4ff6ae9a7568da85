"""The kernel side of the profiler: maps, the sampling program, per-CPU cpu-clock events.

:class:`Sampler` owns every kernel object it creates and closes them all exactly once (on
``close()``, on error during start, and via the context manager). :meth:`Sampler.drain` flips the
active set of maps, then reads and clears the idle set, returning
:class:`profiler.bpf.samples.RawSample` values: no sample is lost at the boundary.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

from . import sampler_program as sp
from .layouts import RECORD_HEADER, Control, SampleKey, Stat, spawn_chain, unpacker
from .leaf_caller import insert_leaf_caller
from .options import SamplingOptions
from .samples import DrainStats, RawSample

if TYPE_CHECKING:
    from ..process.registry import ProcessRegistry
    from ..unwind import TableCache

_KEY = unpacker(SampleKey)
_U64 = struct.Struct("<Q")
# After flipping the active set, wait this long before reading the idle set: a program that read
# the old flag just before the flip finishes within microseconds (it runs with preemption off).
FLIP_GRACE_S = 0.002


RING_SECONDS = 0.25  # the DWARF ring holds this long of samples from every CPU at full rate


def ring_size_for(freq: int, ncpu: int, stack_copy: int) -> int:
    """A ring buffer size (a power of two, 1-32 MiB) for ``RING_SECONDS`` of DWARF records.

    Its pages count in our RSS once read, so it is sized to the rate, not to the worst case.
    """
    want = freq * max(ncpu, 1) * (RECORD_HEADER + stack_copy) * RING_SECONDS
    size = 1 << 20
    while size < want and size < (32 << 20):
        size <<= 1
    return size


def _machine() -> str:
    import platform

    return "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def decode_stack(raw: bytes) -> tuple[int, ...]:
    """Decode a stack-trace map value (u64 addresses, zero-terminated) into a tuple, leaf first."""
    n = len(raw) // 8
    addrs = struct.unpack_from(f"<{n}Q", raw)
    try:
        end = addrs.index(0)
    except ValueError:
        return addrs
    return addrs[:end]


class Sampler:
    """Loads the sampler, attaches it to cpu-clock on each CPU, drains counts and stacks."""

    def __init__(
        self,
        options: SamplingOptions,
        *,
        pids: Iterable[int] = (),
        cgroup: str | None = None,
        registry: ProcessRegistry | None = None,
        table_cache: TableCache | None = None,
        dwarf_pids: Iterable[int] = (),
        spawn_current: object | None = None,
    ) -> None:
        """``pids``: only these processes (tgids; more with :meth:`add_targets`), else every
        process; ``cgroup``: only the tasks of this cgroup v2 directory (perf events per
        cgroup). ``registry``: the session's processes (the DWARF path looks up their maps);
        ``table_cache``: unwind tables to share; ``dwarf_pids``: with ``unwind="auto"``, the
        processes unwound with DWARF from the start; ``spawn_current``: the SpawnTracker's map
        (record Tokio spawn chains)."""
        self.options = options
        self._pids = sorted(set(pids))
        self._cgroup = cgroup
        self._registry = registry
        self._table_cache = table_cache
        self._initial_dwarf_pids = sorted(set(dwarf_pids))
        self._reader_lock = threading.Lock()  # the DWARF reader is started once
        self._spawn_current = spawn_current
        self._stack = contextlib.ExitStack()
        self._active = 0
        self._closed = False
        self.events: list = []
        # Per set of maps: stack id -> addresses, valid until that set's stack map is cleared.
        self._stack_ids: tuple[dict[int, tuple[int, ...]], ...] = ({}, {})
        self.stats = DrainStats()
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    # -- setup -----------------------------------------------------------------------------
    def _map(self, spec: MapSpec):
        m = spec.create()
        self._stack.callback(m.close)
        return m

    def _open(self) -> None:
        from pybpf.attach import attach_perf_event
        from pybpf.perf_event import online_cpus, open_cpu_clock

        o = self.options
        depth = o.max_stack_depth
        self.counts = tuple(
            self._map(MapSpec(f"pp_counts{i}", MapType.HASH, sp.KEY_SIZE, 8, o.counts_map_size))
            for i in (0, 1)
        )
        self.stacks = tuple(
            self._map(MapSpec(f"pp_stacks{i}", MapType.STACK_TRACE, 4, 8 * depth, o.stack_map_size))
            for i in (0, 1)
        )
        self.control = self._map(MapSpec("pp_control", MapType.ARRAY, 4, Control.size, 1))
        self.wake_ring = self._map(MapSpec("pp_wake", MapType.RINGBUF, 0, 0, 4096))
        self.stats_map = self._map(MapSpec("pp_stats", MapType.PERCPU_ARRAY, 4, 8, len(Stat)))
        self.ring = self.dwarf_pids = None
        self.dwarf = None
        # CPython frames: the walk's maps (shared with the off-CPU program and profiler.python).
        self.python_maps = self.python_stacks = None
        if o.python != "off" and o.user_stacks:
            from .python_stacks import PythonStacks
            from .python_walk import PythonMaps

            self.python_maps = PythonMaps.create(o.python_stacks, self._map)
            self.python_stacks = PythonStacks(self.python_maps, o.python_stacks)
        dwarf_mode = {"fp": "off", "dwarf": "all", "auto": "some"}[o.unwind]
        if dwarf_mode != "off" and o.user_stacks:
            size = o.ring_size or ring_size_for(
                o.freq, len(o.cpus or online_cpus()), o.stack_copy_size
            )
            self.ring = self._map(MapSpec("pp_ring", MapType.RINGBUF, 0, 0, size))
            if dwarf_mode == "some":
                self.dwarf_pids = self._map(MapSpec("pp_dwarf_pids", MapType.HASH, 4, 1, 65536))
                self.add_dwarf_pids(self._initial_dwarf_pids)  # before the program runs
        else:
            dwarf_mode = "off"
        self.targets = None
        if self._pids:
            self.targets = self._map(MapSpec("pp_targets", MapType.HASH, 4, 1, 65536))
            self.add_targets(self._pids)
        config = sp.SamplerConfig(
            user_stacks=o.user_stacks,
            kernel_stacks=o.kernel_stacks,
            include_idle=o.include_idle,
            filter_pids=bool(self._pids),
            dwarf=dwarf_mode,
            stack_copy=o.stack_copy_size,
            arch=_machine(),
            spawn_links=self._spawn_current is not None,
            wake_after=max(1, o.counts_map_size // 2),
            leaf_callers=o.leaf_callers,
            python=self.python_maps is not None,
        )
        insns = sp.build_sampler(
            config,
            self.counts,
            self.stacks,
            self.control,
            self.stats_map,
            self.targets,
            self.ring,
            self.dwarf_pids,
            self._spawn_current,
            self.wake_ring,
            self.python_maps,
        )
        self.insns = insns
        spec = ProgramSpec(
            name="pp_sampler", type=ProgramType.PERF_EVENT, insns=insns, license="GPL"
        )
        self.program = spec.load()
        self._stack.callback(self.program.close)
        from pybpf.ringbuf import RingBuffer

        self._wake = RingBuffer(self.wake_ring)
        self._stack.callback(self._wake.close)

        self.cpus = list(o.cpus) if o.cpus is not None else online_cpus()
        for cpu in self.cpus:
            event = open_cpu_clock(cpu=cpu, freq=o.freq, cgroup=self._cgroup)
            self._stack.callback(event.close)
            self.events.append(event)
            link = attach_perf_event(self.program, event)
            self._stack.callback(link.close)
        # Sampling runs from here: the DWARF reader comes second (the ring holds what is sent
        # meanwhile), so its imports and thread do not delay the start. With "auto" it comes
        # with the first process moved to DWARF: the ring's pages count in our RSS once mapped
        # (twice its size: the kernel maps its data twice), for nothing while every process
        # keeps frame pointers.
        if self.ring is not None and (dwarf_mode == "all" or self._initial_dwarf_pids):
            self._start_dwarf_reader()

    def _start_dwarf_reader(self) -> None:
        with self._reader_lock:
            if self.dwarf is not None or self._closed:
                return
            from .dwarf_samples import DwarfSamples

            if self._registry is None:
                from ..process.registry import ProcessRegistry

                self._registry = ProcessRegistry()
            self.dwarf = DwarfSamples(self.ring, self._registry, self._table_cache)
            self._stack.callback(self.dwarf.close)

    def add_dwarf_pids(self, pids: Iterable[int]) -> None:
        """Unwind these processes (tgids) with DWARF from now on (``unwind="auto"``)."""
        if self.dwarf_pids is None:
            return
        added = False
        for pid in pids:
            self.dwarf_pids.update(struct.pack("<I", pid), b"\x01")
            added = True
        if added and self.dwarf is None and self.events:  # sampling: read what is sent
            self._start_dwarf_reader()

    def remove_dwarf_pids(self, pids: Iterable[int]) -> None:
        """Stop DWARF unwinding for these tgids (they exited: the pid may be reused)."""
        if self.dwarf_pids is None:
            return
        for pid in pids:
            with contextlib.suppress(KeyError, OSError):
                self.dwarf_pids.delete(struct.pack("<I", pid))

    def remove_targets(self, pids: Iterable[int]) -> None:
        """Take tgids out of the in-kernel filter (they exited: the pid may be reused)."""
        if self.targets is None:
            return
        for pid in pids:
            with contextlib.suppress(KeyError, OSError):
                self.targets.delete(struct.pack("<I", pid))

    def add_targets(self, pids: Iterable[int]) -> None:
        """Add processes (tgids) to the in-kernel filter (e.g. children of a target)."""
        if self.targets is None:
            return
        for pid in pids:
            self.targets.update(struct.pack("<I", pid), b"\x01")

    def wait_for_filling(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` seconds (``None``: until :meth:`wake`) or until a counts map
        is half full; True if the program asked for a drain."""
        filling = self._wake.wait(-1 if timeout is None else int(timeout * 1000))
        if filling:
            self._wake.consume()
        return filling

    def wake(self) -> None:
        """End a :meth:`wait_for_filling` in another thread (nothing once closed)."""
        if not self._wake.closed:
            self._wake.wake()

    def disable(self) -> None:
        """Stop sampling (the events stay open): a final drain then reads a set nothing writes,
        and every DWARF record sent."""
        for event in self.events:
            with contextlib.suppress(OSError):
                event.disable()
        if self.dwarf is not None:
            self.dwarf.stop_reading()

    # -- reading ---------------------------------------------------------------------------
    def read_stats(self) -> DrainStats:
        """Sum the per-CPU counters of problems and samples (cumulative since start)."""
        totals = {}
        for slot in Stat:
            per_cpu = self.stats_map.lookup(struct.pack("<I", slot)) or []
            totals[slot.field] = sum(
                _U64.unpack_from(v)[0] if isinstance(v, bytes) else int(v) for v in per_cpu
            )
        self.stats = DrainStats(**totals)
        if self.dwarf is not None:
            self.stats.unwind_truncated = self.dwarf.truncated
        if self.python_stacks is not None:
            self.stats.python = self.python_stacks.read_stats()
        return self.stats

    def drain(self) -> list[RawSample]:
        """Flip to the other set of maps, then read the set that was active.

        Counts are read and deleted. Stack-trace maps are kept across intervals, with their ids
        cached here, because the same stacks come back interval after interval (a cache hit costs
        no syscall). A set's stack map is cleared (while it is idle) once it is half full, and
        its cache with it.
        """
        idle = self._active
        self._active ^= 1
        # The new active set's new-key count starts again (its map was emptied last time).
        self.control.update(
            struct.pack("<I", 0), Control.pack(Control(active=self._active, new_keys=(0, 0)))
        )
        time.sleep(FLIP_GRACE_S)
        counts, stacks = self.counts[idle], self.stacks[idle]
        entries = counts.lookup_and_delete_batch()
        cache = self._stack_ids[idle]

        def stack(stack_id: int) -> tuple[int, ...]:
            if stack_id < 0:
                return ()
            found = cache.get(stack_id)
            if found is None:
                raw = stacks.lookup(struct.pack("<I", stack_id))
                found = decode_stack(raw) if raw else ()
                cache[stack_id] = found
            return found

        samples = []
        comms: dict[bytes, str] = {}
        for key, value in entries:
            tgid, tid, ustack, kstack, comm, *chain, leaf_caller, python = _KEY.unpack_from(key)
            name = comms.get(comm)
            if name is None:
                name = comms[comm] = comm.split(b"\0", 1)[0].decode("utf-8", "replace")
            samples.append(
                RawSample(
                    pid=tgid,
                    tid=tid,
                    comm=name,
                    user_stack=insert_leaf_caller(stack(ustack), leaf_caller),
                    kernel_stack=stack(kstack),
                    count=_U64.unpack_from(bytes(value))[0],
                    spawn_chain=spawn_chain(chain),
                    python_stack_id=python,
                )
            )
        if len(cache) > self.options.stack_map_size // 2:
            self._clear_stacks(idle)
        if self.dwarf is not None:
            samples.extend(self.dwarf.take())
        return samples

    def _clear_stacks(self, which: int) -> None:
        """Empty an idle set's stack-trace map and forget its cached ids."""
        stacks = self.stacks[which]
        for stack_id in list(stacks.keys()):
            with contextlib.suppress(KeyError, OSError):
                stacks.delete(stack_id)
        self._stack_ids[which].clear()

    def close(self) -> None:
        """Detach and close everything, exactly once."""
        with self._reader_lock:  # no DWARF reader starts after this
            if self._closed:
                return
            self._closed = True
        self._stack.close()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
