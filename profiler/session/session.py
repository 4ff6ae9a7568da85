"""The profiler as a library: start a session, stop it, get the profile.

```python
from profiler import Session, SessionOptions
with Session(SessionOptions()) as session:
    session.start()
    time.sleep(5)
    profile = session.stop()
profile.write("profile.pb.gz")
print(profile.top_table(10))
```

A background thread drains the kernel's maps every ``drain_interval`` seconds and symbolizes at
once, while the sampled processes are still alive (a process that exits later keeps its symbols:
its mappings are snapshotted when first seen, in the session's
:class:`~profiler.process.registry.ProcessRegistry`). A session with target pids sets
:attr:`Session.targets_exited` when the targets and their children have all exited.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..bpf.sampler import Sampler
from ..bpf.samples import DrainStats
from ..process.liveness import TargetLiveness
from ..process.registry import ProcessRegistry
from ..process.tree import descendants, process_state
from .options import OptionError, SessionOptions

if TYPE_CHECKING:
    from ..bpf.offcpu import OffCpuSampler
    from ..frames.model import SymbolizedSample
    from ..frames.pipeline import Pipeline, Symbolizing
    from ..output.collected import CollectedProfile
    from ..output.off_cpu import OffCpuInfo
    from ..python.tracker import PythonTracker

# What start() needs before the program is attached is imported at the top; the symbolizer,
# the pipeline and the output (pprof_encoder) are imported when first used, after it: the time
# from launch to sampling is what a user waits for.

FIRST_DRAIN_S = 0.3
FINAL_DRAIN_BUDGET_S = 5.0  # a stop reads what is left for at most this long

log = logging.getLogger("profiler.session")


class UnknownProcessError(LookupError):
    """A target pid does not exist, or cannot be profiled (a zombie, a kernel thread)."""


class Session:
    """One profiling session: kernel sampler + symbolizing pipeline + the collected samples.

    ``symbolizer``: anything that symbolizes like :class:`profiler.symbolize.Symbolizer` (a
    default one, sharing the session's process registry, when not given).
    """

    def __init__(
        self, options: SessionOptions | None = None, symbolizer: Symbolizing | None = None
    ) -> None:
        self.options = options or SessionOptions()
        for pid in self.options.targets.pids:
            why = process_state(pid)
            if why == "gone":
                raise UnknownProcessError(f"no process with pid {pid}")
            if why is not None:
                raise UnknownProcessError(f"pid {pid} is a {why}: it has no stacks to sample")
        self.registry = ProcessRegistry()
        self._symbolizer = symbolizer
        self._pipeline: Pipeline | None = None
        sampling = self.options.sampling
        self.unwind_policy = None
        self._table_cache = None
        if sampling.unwind != "fp" and sampling.user_stacks:
            from ..unwind import TableCache
            from .unwind_policy import UnwindPolicy

            self._table_cache = TableCache()  # shared by the policy and the unwinder
            self.unwind_policy = UnwindPolicy(sampling.unwind, self.registry, self._table_cache)
        self.registry.add_listener(self._forget)
        self._samples: list[SymbolizedSample] = []
        self._sampler: Sampler | None = None
        self._offcpu: OffCpuSampler | None = None  # with options.off_cpu
        self._python: PythonTracker | None = None  # CPython frames (session/python.py)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Work of the process-event thread that waits for a drain in progress (see _soon).
        self._pending: collections.deque[Callable[[], None]] = collections.deque()
        self._seen: set[int] = set()
        self._spawn_tracker = None
        self._tracker = None  # proc connector events (ProcessTracker), when available
        # Set when every target pid (and every child followed) has exited; never set for a
        # whole-machine or cgroup session.
        self.targets_exited = threading.Event()
        self._on_targets_exited: list[Callable[[], object]] = [self.targets_exited.set]
        self._liveness: TargetLiveness | None = None
        self.started_at = 0.0
        self._interval_start = 0.0
        self.stopped_at = 0.0
        self.error: BaseException | None = None

    @property
    def symbolizer(self) -> Symbolizing:
        """The symbolizer (a :class:`profiler.symbolize.Symbolizer` sharing the session's process
        registry unless one was given), made on first use."""
        if self._symbolizer is None:
            from ..symbolize import Symbolizer

            self._symbolizer = Symbolizer(
                registry=self.registry,
                use_dwarf=self.options.uses_dwarf,
                dwarf_from_debug_files=self.options.uses_separate_debug_dwarf,
            )
        return self._symbolizer

    @property
    def pipeline(self) -> Pipeline:
        """Raw samples -> symbolized samples with labels (made on first use)."""
        if self._pipeline is None:
            from ..frames.pipeline import Pipeline

            self._pipeline = Pipeline(
                symbolizer=self.symbolizer,
                process_info=self.registry.info,
                thread_name=self.registry.thread_name,
                transforms=self._transforms(),
                python=self._python,
            )
        return self._pipeline

    def when_targets_exit(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (from a session thread) once every target has exited."""
        self._on_targets_exited.append(callback)

    def _targets_gone(self) -> None:
        for callback in self._on_targets_exited:
            callback()

    def _transforms(self) -> list:
        mode = self.options.frames.async_stacks
        if mode == "off":
            return []
        from ..frames import apply_async_stacks

        return [lambda frames, thread: apply_async_stacks(frames, thread, mode=mode)]

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load and attach the sampler, then drain in the background."""
        targets = self.options.targets
        pids = list(targets.pids)
        if targets.follow_children and pids:
            pids = sorted(set(pids) | set(descendants(pids)))
        if pids:
            self._liveness = TargetLiveness(pids, on_all_exited=self._targets_gone)
        try:
            spawn_current = None
            if self.options.frames.spawn_links:
                spawn_current = self._start_spawn_tracker(pids)
            policy = self.unwind_policy
            # Sampling first: everything else (snapshots, the unwinding judgement of each
            # target, process events) can happen while it runs.
            self._sampler = Sampler(
                self.options.sampling,
                pids=pids,
                cgroup=targets.cgroup,
                registry=self.registry,
                table_cache=self._table_cache,
                spawn_current=spawn_current,
            )
            self.started_at = self._interval_start = time.time()
            if policy is not None:
                policy.use_dwarf = self._sampler.add_dwarf_pids
            if self.options.off_cpu is not None:
                from .off_cpu import start_off_cpu

                self._offcpu = start_off_cpu(
                    self.options,
                    self._sampler,
                    pids=pids,
                    registry=self.registry,
                    table_cache=self._table_cache,
                )
            if self.options.process_events:
                # Events right after the programs: a fork from now on is followed at once.
                self._start_process_events()
                if self._tracker is not None:
                    # Children that existed before the session: follow them too (their forks
                    # and exits).
                    self._tracker.add_followed(pids)
            if self._liveness is not None:
                self._liveness.check()  # a target that exited before its events were followed
            from .python import start_python

            # Interpreters of the targets at their first sight (below), else of the machine.
            self._python = start_python(self.options, self._sampler, self.registry)
            if self._pipeline is not None:
                self._pipeline.python = self._python
            for pid in pids:
                self._first_sight(pid)
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._drain_loop, name="pp-drain", daemon=True)
        self._thread.start()

    def _first_sight(self, pid: int, load_symbols: bool = False) -> None:
        """A process seen for the first time: its mappings now (it may exit later), and how to
        unwind it. Symbol tables load when an address of a binary is first seen, or now with
        ``load_symbols`` (each binary once: they are cached by build id)."""
        if pid in self._seen or pid <= 0:
            return
        self._seen.add(pid)
        self.registry.info(pid)
        if self.unwind_policy is not None:
            self.unwind_policy.first_sight(pid)
        if self._python is not None:
            self._python.add_process(pid)
        snapshot = getattr(self.symbolizer, "snapshot", None)
        if snapshot is not None:
            snapshot(pid, load_symbols=load_symbols)
        else:
            self.registry.maps(pid)

    def _start_spawn_tracker(self, pids: list[int]) -> object | None:
        """Probe the Tokio targets' spawn/poll functions; the sampler reads ``current``."""
        from ..bpf.spawn_tracker import SpawnTracker
        from ..elf.errors import FormatError
        from ..frames.spawn_links import SpawnLinker

        self._spawn_tracker = SpawnTracker()
        attached = 0
        for pid in pids:
            try:
                attached += self._spawn_tracker.attach(f"/proc/{pid}/exe", [pid])
            except (LookupError, OSError, FormatError):
                continue  # not a Tokio program, gone, or a malformed ELF: nothing to link
        async_mode = self.options.frames.async_stacks
        self.pipeline.spawn_linker = SpawnLinker(
            self.symbolizer,
            self._spawn_tracker.spawn_stack,
            mode="on" if async_mode == "off" else async_mode,
        )
        return self._spawn_tracker.current if attached else None

    def _start_process_events(self) -> None:
        """Follow fork/exec/exit through the kernel's proc connector (else: /proc scans)."""
        from ..process.events.tracker import ProcessTracker

        try:
            self._tracker = ProcessTracker(
                roots=self.options.targets.pids,
                follow_children=self.options.targets.follow_children,
                on_new_process=self._on_new_process,
                on_exit=self._on_exit,
                on_exec_ready=self._on_exec_ready,
                batch_interval=0.01,
            )
        except OSError as exc:
            log.warning("no process events (%s): following processes by /proc scans", exc)
            self._tracker = None

    def _drain_loop(self) -> None:
        # The first drain comes early: it lets unwind="auto" judge frame-pointer stacks (and
        # switch a process to DWARF) after a fraction of a second rather than a whole interval.
        # Then the thread sleeps a whole drain interval, unless the program says a counts map
        # is half full (or stop() wakes it).
        wait = min(FIRST_DRAIN_S, self.options.drain_interval)
        sampler = self._sampler
        try:
            if self.options.sampling.kernel_stacks and sampler is not None:
                # The kernel's symbol table is needed as soon as one sample has a kernel
                # frame (nearly every run): load it now, while the first samples come, rather
                # than in whichever drain meets the first kernel frame (~0.15 s of CPU that
                # read as steady cost in the middle of a run).
                self.symbolizer.kernel_symbols()
            while not self._stop.is_set():
                if sampler is None:
                    self._stop.wait(wait)
                else:
                    sampler.wait_for_filling(wait)
                if self._stop.is_set():
                    break
                self.drain_once()
                wait = self.options.drain_interval
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def _stop_draining(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.wake()

    def drain_once(self) -> list[SymbolizedSample]:
        """Drain the kernel maps now and symbolize what they held."""
        sampler = self._sampler
        if sampler is None:
            return []
        tracker = self._tracker
        with self._lock:
            raw = sampler.drain()
            if self._offcpu is not None:
                raw += self._offcpu.drain()
            if self._python is not None:
                self._python.after_drain()  # names code objects while their processes live
            rescanned = self._follow_children(sampler)
            if self._liveness is not None and (tracker is None or rescanned):
                self._liveness.check()  # exits read from /proc where events are missing
            for sample in raw:
                self._first_sight(sample.pid)
            if self.unwind_policy is not None:
                self.unwind_policy.observe(raw)
            symbolized = self.pipeline.run(raw)
            self._samples.extend(symbolized)
            if tracker is not None:
                # Processes that exited before this drain: their samples are symbolized now.
                for pid in tracker.drained():
                    self.registry.forget(pid)
        self._run_pending()  # what the process events brought meanwhile
        return symbolized

    def _follow_children(self, sampler: Sampler) -> bool:
        """Children arrive by fork events; scan /proc only without them or after the kernel
        dropped events (an overrun). True if /proc was scanned."""
        targets = self.options.targets
        if not (targets.pids and targets.follow_children):
            return False
        tracker = self._tracker
        if tracker is None or tracker.take_rescan():
            new = set(descendants(list(targets.pids))) - self._seen
            sampler.add_targets(new)
            if tracker is not None:
                tracker.add_followed(new)
            for pid in new:
                self._first_sight(pid)
            if self._liveness is not None:
                self._liveness.added(new)
            return True
        return False

    def _forget(self, pid: int, exited: bool) -> None:
        """The registry dropped ``pid`` (exited, or exec'd): drop what the session holds."""
        self._seen.discard(pid)
        self.pipeline.forget_process(pid)
        if self.unwind_policy is not None:
            self.unwind_policy.forget(pid, exited)
        if exited and self._sampler is not None:
            self._sampler.remove_targets([pid])  # a reused pid is not a target
            self._sampler.remove_dwarf_pids([pid])

    def _on_new_process(self, pid: int) -> None:
        """A child of a target was forked: profile it from now on."""
        if self._liveness is not None:
            self._liveness.added([pid])
        sampler = self._sampler
        if sampler is not None:
            # At once, not after a drain in progress (its symbolizing can take half a second):
            # the child's samples and blocks count from its first run.
            sampler.add_targets([pid])
        self._soon(lambda: self._first_sight(pid))

    def _on_exit(self, pid: int) -> None:
        """A followed process exited (its exit event; its samples are drained later)."""
        if self._liveness is not None:
            self._liveness.exited(pid)

    def _on_exec_ready(self, pids: list[int]) -> None:
        """Processes exec'd a new image (its libraries now mapped): read them afresh."""

        def read_afresh() -> None:
            for pid in pids:
                self.registry.reset(pid)
                # Symbols now, while its files are reachable: drains are seconds apart, and
                # a short-lived process may be gone by the next one.
                self._first_sight(pid, load_symbols=True)

        self._soon(read_afresh)

    def _soon(self, work: Callable[[], None]) -> None:
        """Run ``work`` under the session lock now or, while a drain holds the lock, as soon as
        it ends: the process-event thread never waits for a drain (a first drain symbolizes
        for a while, and the forks meanwhile must still reach the kernel filter at once)."""
        self._pending.append(work)
        self._run_pending()

    def _run_pending(self) -> None:
        """Run the work :meth:`_soon` queued, unless another thread holds the lock (that thread
        runs it when it lets go)."""
        while self._pending and self._lock.acquire(blocking=False):
            try:
                while self._pending:
                    self._pending.popleft()()
            finally:
                self._lock.release()

    def disable(self) -> None:
        """Stop sampling now (the kernel objects stay until :meth:`close`): what the maps hold
        can still be drained, and nothing more is added to them."""
        if self._sampler is not None:
            self._sampler.disable()
        if self._offcpu is not None:
            self._offcpu.disable()

    def stop(self) -> CollectedProfile:
        """Stop sampling, drain what is left, detach everything, and return the profile.

        The events are disabled first, so the final drains read sets that nothing writes any
        more, and they stop after ``FINAL_DRAIN_BUDGET_S`` whatever the rate was.
        """
        self._stop_draining()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            if self._sampler is not None:
                self.disable()
                deadline = time.monotonic() + FINAL_DRAIN_BUDGET_S
                self.drain_once()
                if time.monotonic() < deadline:
                    self.drain_once()  # the set that was active during the first final drain
                self._sampler.read_stats()
                if self._offcpu is not None:
                    self._offcpu.read_stats()
        finally:
            self.close()
        self.stopped_at = time.time()
        if self.error is not None:
            raise self.error
        return self.profile()

    @property
    def kernel_stats(self) -> DrainStats:
        """What the kernel side counted (samples, collisions, map full...)."""
        return self._sampler.stats if self._sampler else DrainStats()

    def take_profile(self) -> CollectedProfile:
        """Drain now and return only the samples since the last take (one agent interval)."""
        from ..output.collected import CollectedProfile

        self.drain_once()
        now = time.time()
        with self._lock:
            samples, self._samples = self._samples, []
            start, self._interval_start = self._interval_start, now
        if self._offcpu is not None:
            self._offcpu.read_stats()
        return CollectedProfile(
            samples=samples,
            freq=self.options.sampling.freq,
            start_time=start,
            duration=max(0.0, now - start),
            kernel_stats=self._sampler.read_stats() if self._sampler else DrainStats(),
            pipeline_stats=self.pipeline.stats,
            off_cpu=self._off_cpu_info(),
            view=self.options.view,
        )

    def profile(self) -> CollectedProfile:
        """The profile collected so far."""
        from ..output.collected import CollectedProfile

        with self._lock:
            samples = list(self._samples)
        end = self.stopped_at or time.time()
        return CollectedProfile(
            samples=samples,
            freq=self.options.sampling.freq,
            start_time=self.started_at,
            duration=max(0.0, end - self.started_at),
            kernel_stats=self.kernel_stats,
            pipeline_stats=self.pipeline.stats,
            off_cpu=self._off_cpu_info(),
            view=self.options.view,
        )

    def _off_cpu_info(self) -> OffCpuInfo | None:
        """How off-CPU time was recorded, with the statistics last read (None: it was not)."""
        if self._offcpu is None:
            return None
        from .off_cpu import off_cpu_info

        return off_cpu_info(self._offcpu)

    def close(self) -> None:
        """Detach and free every kernel object (idempotent)."""
        self._stop_draining()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)  # a drain in progress finishes before its maps close
            self._thread = None
        if self._tracker is not None:
            self._tracker.close()
        if self._python is not None:
            self._python.close()  # its thread reads the sampler's maps: stopped first
        if self._offcpu is not None:
            self._offcpu.close()  # first: its program shares the sampler's maps
        if self._sampler is not None:
            self._sampler.close()
        if self._spawn_tracker is not None:
            self._spawn_tracker.close()  # after the sampler, whose program reads its map

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["OptionError", "Session", "SessionOptions", "UnknownProcessError"]
