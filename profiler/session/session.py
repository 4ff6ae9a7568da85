"""The profiler as a library: start a session, stop it, get the profile.

```python
from profiler import Session, SessionOptions
with Session(SessionOptions(freq=99)) as session:
    session.start()
    time.sleep(5)
    profile = session.stop()
profile.write("profile.pb.gz")
print(profile.top_table(10))
```

A background thread drains the kernel's maps every ``drain_interval`` seconds and symbolizes at
once, while the sampled processes are still alive (a process that exits later keeps its symbols;
its mappings are snapshotted when first seen).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from ..bpf.sampler import Sampler, SamplerOptions
from ..bpf.samples import DrainStats
from ..elf.errors import FormatError
from ..frames.model import SymbolizedSample
from ..frames.pipeline import Pipeline, PipelineStats
from ..output.collected import CollectedProfile
from ..process.info import ProcessInfoCache, thread_name

# Libraries where the user stacks of dynamically linked programs end (see
# Session._check_frame_pointer_stacks).
C_LIBRARIES = ("libc.so", "libc-", "ld-linux", "ld-musl", "libc.musl", "libpthread")
FIRST_DRAIN_S = 0.3
FP_CHECK_SAMPLES = 30  # frame-pointer samples of a process before judging them
FP_CHECK_COMPLETE = 0.8  # below this share of complete stacks, switch the process to DWARF


log = logging.getLogger("profiler.session")


class UnknownProcessError(LookupError):
    """A target pid does not exist."""


@dataclass
class SessionOptions:
    """What and how to profile (the CLI's flags, as a value)."""

    freq: int = 99
    pids: list[int] = field(default_factory=list)
    cgroup: str | None = None
    user_stacks: bool = True
    kernel_stacks: bool = True
    include_idle: bool = False
    stack_map_size: int = 10000
    max_stack_depth: int = 127
    async_stacks: str = "auto"  # auto | on | off
    # User stacks: "auto" unwinds each process as its executable needs (frame pointers when it
    # keeps them, else DWARF CFI over a copied stack), "fp" or "dwarf" for every process.
    unwind: str = "auto"
    stack_copy_size: int = 8192
    # Tokio: link tasks started with tokio::spawn to the stack that spawned them (uprobes on the
    # targets' spawn and poll functions; --pid only; each probe hit costs a trap: opt-in).
    spawn_links: bool = False
    # Exec/fork/exit events from the kernel's proc connector: snapshot a process right after it
    # execs (so a short-lived one keeps its symbols), follow children at once, forget the exited.
    process_events: bool = True
    # DWARF file:line and inlined frames: "auto" = for chosen processes (--pid/--cgroup) only;
    # whole-machine profiles use symbol tables (DWARF of every binary costs seconds and memory).
    debug_info: str = "auto"  # auto | on | off
    follow_children: bool = True
    drain_interval: float = 1.0


class Session:
    """One profiling session: kernel sampler + symbolizing pipeline + the collected samples."""

    def __init__(self, options: SessionOptions | None = None, symbolizer: object | None = None):
        self.options = options or SessionOptions()
        for pid in self.options.pids:
            if not os.path.exists(f"/proc/{pid}"):
                raise UnknownProcessError(f"no process with pid {pid}")
        if self.options.spawn_links and not self.options.pids:
            raise ValueError("spawn links need target processes (--pid)")
        if symbolizer is None:
            from ..symbolize import Symbolizer

            symbolizer = Symbolizer(use_dwarf=self.uses_dwarf)
        self.symbolizer = symbolizer
        self.process_info = ProcessInfoCache()
        self.pipeline = Pipeline(
            symbolizer=symbolizer,
            process_info=self.process_info.get,
            thread_name=self._thread_name,
            transforms=self._transforms(),
        )
        self._thread_names: dict[tuple[int, int], str] = {}
        self._samples: list[SymbolizedSample] = []
        self._sampler: Sampler | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen_pids: set[int] = set()
        self._fp_verdicts: dict[str, bool] = {}  # executable path -> keeps frame pointers
        self._dwarf_pids: set[int] = set()  # processes unwound with DWARF (unwind="auto")
        self._fp_checks: dict[int, list[int]] = {}  # pid -> [fp samples, reaching a root]
        self._fp_check_maps: dict[int, object] = {}  # pid -> its mappings, while checking
        self._fp_ok: set[int] = set()  # processes whose frame-pointer stacks are complete
        self._spawn_tracker = None
        self._tracker = None  # proc connector events (ProcessTracker), when available
        self._table_cache = None
        if self.options.unwind != "fp" and self.options.user_stacks:
            from ..unwind import TableCache

            self._table_cache = TableCache()  # shared by the classifier and the unwinder
        self.started_at = 0.0
        self._interval_start = 0.0
        self.stopped_at = 0.0
        self.error: BaseException | None = None

    @property
    def uses_dwarf(self) -> bool:
        """Whether DWARF line tables and inlined frames are read (see ``debug_info``)."""
        o = self.options
        if o.debug_info == "auto":
            return bool(o.pids or o.cgroup)
        return o.debug_info == "on"

    def _transforms(self) -> list:
        if self.options.async_stacks == "off":
            return []
        try:
            from ..frames import apply_async_stacks
        except ImportError:  # the async transforms are optional
            return []
        mode = self.options.async_stacks
        return [lambda frames, thread: apply_async_stacks(frames, thread, mode=mode)]

    def _thread_name(self, pid: int, tid: int) -> str:
        key = (pid, tid)
        name = self._thread_names.get(key)
        if name is None:
            name = self._thread_names[key] = thread_name(pid, tid)
        return name

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load and attach the sampler, then drain in the background."""
        o = self.options
        pids = list(o.pids)
        if o.follow_children and pids:
            pids = sorted(set(pids) | set(_descendants(pids)))
        for pid in pids:
            self._remember(pid)
        self._dwarf_pids.update(pid for pid in pids if self._needs_dwarf(pid))
        try:
            self._start_sampler(pids)
            if o.process_events:
                self._start_process_events()
        except BaseException:
            self.close()
            raise
        self.started_at = self._interval_start = time.time()
        self._thread = threading.Thread(target=self._drain_loop, name="pp-drain", daemon=True)
        self._thread.start()

    def _start_sampler(self, pids: list[int]) -> None:
        o = self.options
        spawn_current = self._start_spawn_tracker(pids) if o.spawn_links else None
        self._sampler = Sampler(
            SamplerOptions(
                freq=o.freq,
                pids=pids,
                cgroup=o.cgroup,
                user_stacks=o.user_stacks,
                kernel_stacks=o.kernel_stacks,
                include_idle=o.include_idle,
                stack_map_size=o.stack_map_size,
                max_stack_depth=o.max_stack_depth,
                unwind=o.unwind,
                stack_copy_size=o.stack_copy_size,
                dwarf_pids=sorted(self._dwarf_pids),
                table_cache=self._table_cache,
                spawn_current=spawn_current,
            )
        )

    def _remember(self, pid: int) -> None:
        """First sight of a process: keep its identity and its mappings (it may exit later)."""
        if pid in self._seen_pids:
            return
        self._seen_pids.add(pid)
        self.process_info.get(pid)
        self._choose_unwinding(pid)
        snapshot = getattr(self.symbolizer, "snapshot", None)
        if snapshot is not None and pid > 0:
            try:
                # Mappings only: symbol tables load when an address of the binary is first seen.
                snapshot(pid, load_symbols=False)
            except OSError:
                pass  # already gone: its samples stay, with module+offset frames

    def _start_spawn_tracker(self, pids: list[int]) -> object | None:
        """Probe the Tokio targets' spawn/poll functions; the sampler reads ``current``."""
        from ..bpf.spawn_tracker import SpawnTracker
        from ..frames.spawn_links import SpawnLinker

        self._spawn_tracker = SpawnTracker()
        attached = 0
        for pid in pids:
            try:
                attached += self._spawn_tracker.attach(f"/proc/{pid}/exe", [pid])
            except (LookupError, OSError, FormatError):
                continue  # not a Tokio program, gone, or a malformed ELF: nothing to link
        mode = "on" if self.options.async_stacks == "off" else self.options.async_stacks
        self.pipeline.spawn_linker = SpawnLinker(
            self.symbolizer, self._spawn_tracker.spawn_stack, mode=mode
        )
        return self._spawn_tracker.current if attached else None

    def _needs_dwarf(self, pid: int) -> bool:
        """With ``unwind="auto"``: whether ``pid``'s executable has no frame pointers."""
        if self._table_cache is None or self.options.unwind != "auto" or pid <= 0:
            return False
        from ..unwind.frame_pointers import has_frame_pointers

        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return False  # gone, or a kernel thread
        verdict = self._fp_verdicts.get(exe)
        if verdict is None:
            table = self._table_cache.table_for_file(f"/proc/{pid}/exe")
            verdict = self._fp_verdicts[exe] = has_frame_pointers(table) is not False
        return not verdict

    def _choose_unwinding(self, pid: int) -> None:
        """Switch a newly seen process to DWARF unwinding if its executable needs it."""
        if self._sampler is not None and self._needs_dwarf(pid):
            self._sampler.add_dwarf_pids([pid])
            self._dwarf_pids.add(pid)

    def _drain_loop(self) -> None:
        # The first drain comes early: it lets unwind="auto" judge frame-pointer stacks (and
        # switch a process to DWARF) after a fraction of a second rather than a whole interval.
        wait = min(FIRST_DRAIN_S, self.options.drain_interval)
        try:
            while not self._stop.wait(wait):
                self.drain_once()
                wait = self.options.drain_interval
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def drain_once(self) -> list[SymbolizedSample]:
        """Drain the kernel maps now and symbolize what they held."""
        sampler = self._sampler
        if sampler is None:
            return []
        tracker = self._tracker
        with self._lock:
            raw = sampler.drain()
            if self.options.pids and self.options.follow_children:
                # Children arrive by fork events; scan /proc only without them or after the
                # kernel dropped events (an overrun).
                if tracker is None or tracker.take_rescan():
                    new = set(_descendants(self.options.pids)) - self._seen_pids
                    sampler.add_targets(new)
                    if tracker is not None:
                        tracker.add_followed(new)
                    for pid in new:
                        self._remember(pid)
            for sample in raw:
                self._remember(sample.pid)
            self._check_frame_pointer_stacks(raw)
            symbolized = self.pipeline.run(raw)
            self._samples.extend(symbolized)
            if tracker is not None:
                # Processes that exited before this drain: their samples are symbolized now.
                for pid in tracker.drained():
                    self._forget(pid)
        return symbolized

    def _forget(self, pid: int) -> None:
        """Drop everything kept for ``pid`` (it exited, and its samples are symbolized)."""
        forget = getattr(self.symbolizer, "forget", None)
        if forget is not None:
            forget(pid)
        self.pipeline.forget_process(pid)
        self.process_info.forget(pid)
        self._seen_pids.discard(pid)
        self._fp_checks.pop(pid, None)
        self._fp_check_maps.pop(pid, None)
        for key in [k for k in self._thread_names if k[0] == pid]:
            del self._thread_names[key]
        if self._sampler is not None:
            self._sampler.remove_targets([pid])  # a reused pid is not a target
            if pid in self._dwarf_pids:
                self._sampler.remove_dwarf_pids([pid])
        self._dwarf_pids.discard(pid)
        self._fp_ok.discard(pid)
        if self._sampler is not None and self._sampler.dwarf is not None:
            self._sampler.dwarf.forget(pid)

    def _on_new_process(self, pid: int) -> None:
        """A child of a target was forked: profile it from now on."""
        with self._lock:
            if self._sampler is not None:
                self._sampler.add_targets([pid])
            self._remember(pid)

    def _on_exec_ready(self, pids: list[int]) -> None:
        """Processes exec'd a new image (its libraries now mapped): read them afresh."""
        with self._lock:
            for pid in pids:
                self.pipeline.forget_process(pid)
                self.process_info.forget(pid)
                self._seen_pids.discard(pid)
                self._fp_checks.pop(pid, None)
                self._fp_check_maps.pop(pid, None)
                self._fp_ok.discard(pid)
                self._remember(pid)

    def _start_process_events(self) -> None:
        """Follow fork/exec/exit through the kernel's proc connector (else: /proc scans)."""
        from ..process.events.tracker import ProcessTracker

        try:
            self._tracker = ProcessTracker(
                roots=self.options.pids,
                follow_children=self.options.follow_children,
                on_new_process=self._on_new_process,
                on_exec_ready=self._on_exec_ready,
                batch_interval=0.01,
            )
        except OSError as exc:
            log.warning("no process events (%s): following processes by /proc scans", exc)
            self._tracker = None

    def _check_frame_pointer_stacks(self, raw: list) -> None:
        """``unwind="auto"``: move a process to DWARF unwinding when its frame-pointer stacks do
        not reach a thread's entry (code without frame pointers in its hot path, e.g. a Rust
        crate built without them over a std built with them).

        A complete stack of a dynamically linked program ends in the C library (its
        ``__libc_start_call_main``, ``start_thread`` or ``clone3``); one cut short by a missing
        frame pointer ends in the program's own code. Looking at the mapping of the outermost
        address needs no symbols, so this runs before symbolization, at the first drain.
        """
        sampler = self._sampler
        if sampler is None or sampler.dwarf_pids is None or self.options.unwind != "auto":
            return
        for sample in raw:
            pid = sample.pid
            if pid in self._dwarf_pids or not sample.user_stack or pid in self._fp_ok:
                continue
            seen = self._fp_checks.setdefault(pid, [0, 0])
            seen[0] += sample.count
            if _in_c_library(pid, sample.user_stack[-1], self._fp_check_maps):
                seen[1] += sample.count
            if seen[0] >= FP_CHECK_SAMPLES:
                if seen[1] < FP_CHECK_COMPLETE * seen[0]:
                    sampler.add_dwarf_pids([pid])
                    self._dwarf_pids.add(pid)
                else:
                    self._fp_ok.add(pid)
                self._fp_checks.pop(pid, None)
                self._fp_check_maps.pop(pid, None)

    def stop(self) -> CollectedProfile:
        """Stop sampling, drain what is left, detach everything, and return the profile."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            if self._sampler is not None:
                self.drain_once()
                self.drain_once()  # the set that was active during the first final drain
                self._sampler.read_stats()
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
        self.drain_once()
        now = time.time()
        with self._lock:
            samples, self._samples = self._samples, []
            start, self._interval_start = self._interval_start, now
        return CollectedProfile(
            samples=samples,
            freq=self.options.freq,
            start_time=start,
            duration=max(0.0, now - start),
            kernel_stats=self._sampler.read_stats() if self._sampler else DrainStats(),
            pipeline_stats=self.pipeline.stats,
        )

    def profile(self) -> CollectedProfile:
        """The profile collected so far."""
        with self._lock:
            samples = list(self._samples)
        end = self.stopped_at or time.time()
        return CollectedProfile(
            samples=samples,
            freq=self.options.freq,
            start_time=self.started_at,
            duration=max(0.0, end - self.started_at),
            kernel_stats=self.kernel_stats,
            pipeline_stats=self.pipeline.stats,
        )

    def close(self) -> None:
        """Detach and free every kernel object (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)  # a drain in progress finishes before its maps close
            self._thread = None
        if self._tracker is not None:
            self._tracker.close()
        if self._sampler is not None:
            self._sampler.close()
        if self._spawn_tracker is not None:
            self._spawn_tracker.close()  # after the sampler, whose program reads its map

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _in_c_library(pid: int, addr: int, cache: dict[int, object]) -> bool:
    """Whether ``addr`` of process ``pid`` lies in the C library (or the dynamic loader)."""
    from ..unwind import ProcessMappings

    maps = cache.get(pid)
    if maps is None:
        try:
            maps = cache[pid] = ProcessMappings.from_pid(pid)
        except OSError:
            return True  # gone: no verdict against it
    mapping = maps.find(addr)
    return mapping is not None and os.path.basename(mapping.path).startswith(C_LIBRARIES)


def _descendants(pids: list[int]) -> list[int]:
    """All processes whose ancestry includes one of ``pids`` (children followed)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The comm may contain spaces and parentheses: the ppid follows the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
    roots = set(pids)
    found = []
    for pid in parents:
        p, seen = pid, 0
        while p > 1 and seen < 64:
            p = parents.get(p, 0)
            seen += 1
            if p in roots:
                found.append(pid)
                break
    return found


__all__ = ["PipelineStats", "Session", "SessionOptions", "UnknownProcessError"]
