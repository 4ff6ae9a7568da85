"""Raw samples -> symbolized samples with labels: the user-space pipeline, pure data transformation.

Testable without root from recorded :class:`profiler.bpf.samples.RawSample` values: the
symbolizer and the process-info source are parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..bpf.samples import RawSample
from ..process.info import ProcessInfo
from .model import UNKNOWN, Frame, SymbolizedSample

if TYPE_CHECKING:
    from .spawn_links import SpawnLinker

# Frame transforms: (frames leaf first, thread name) -> frames leaf first.
FrameTransform = Callable[[list[Frame], str], list[Frame]]


class PythonFrames(Protocol):
    """What the pipeline asks of CPython frames (:class:`profiler.python.tracker.PythonTracker`)."""

    def frames(self, sample: RawSample, native: list[Frame]) -> list[Frame]:
        """``native`` (leaf first) with the sample's Python frames merged in."""

    def stack_key(self, sample: RawSample) -> tuple:
        """What identifies the sample's named Python stack (a part of the cache key)."""

    def labels(self, sample: RawSample) -> dict[str, str]:
        """Labels of the sample's Python thread (GIL, GC)."""


class Symbolizing(Protocol):
    """What the pipeline asks of a symbolizer (:class:`profiler.symbolize.Symbolizer`)."""

    def user_frames(self, pid: int, addr: int) -> list[Frame]:
        """The frames at ``addr`` in process ``pid``, innermost first (never empty)."""

    def kernel_frames(self, addr: int) -> list[Frame]:
        """The frames at kernel address ``addr`` (never empty)."""


@dataclass
class PipelineStats:
    """Counts the pipeline keeps about what it saw."""

    samples: int = 0  # samples (sum of counts)
    stacks: int = 0  # distinct raw stacks
    frames: int = 0  # frames produced
    unsymbolized_frames: int = 0  # addresses no symbol was found for
    empty_stacks: int = 0  # samples with neither a user nor a kernel stack


@dataclass
class Pipeline:
    """Symbolize raw samples, apply frame transforms, attach labels.

    ``symbolizer`` follows the :class:`profiler.symbolize.Symbolizer` contract
    (``user_frames(pid, addr)``, ``kernel_frames(addr)``); ``process_info`` maps a pid to a
    :class:`ProcessInfo` (or None when unknown).
    """

    symbolizer: Symbolizing
    process_info: Callable[[int], ProcessInfo | None]
    thread_name: Callable[[int, int], str] = lambda pid, tid: ""
    transforms: list[FrameTransform] = field(default_factory=list)
    stats: PipelineStats = field(default_factory=PipelineStats)
    # Distinct stacks kept symbolized (least recently seen dropped first): a stack's frames are
    # ~1-2 KB, and the per-address caches below make a dropped stack cheap to rebuild.
    max_cached_stacks: int = 4096
    # Links Tokio tasks to the stacks that spawned them (profiler.frames.spawn_links).
    spawn_linker: SpawnLinker | None = None
    # Merges CPython frames into native stacks (profiler.python.tracker.PythonTracker).
    python: PythonFrames | None = None
    _cache: OrderedDict[tuple, list[Frame]] = field(default_factory=OrderedDict, repr=False)
    _by_pid: dict[int, set[tuple]] = field(default_factory=dict, repr=False)

    def frames_of(self, sample: RawSample) -> list[Frame]:
        """The symbolized stack of ``sample``, leaf first: kernel frames, then user frames."""
        frames: list[Frame] = []
        sym = self.symbolizer
        # Below the leaf, addresses are return addresses: they point after the call. Look up
        # addr - 1 so the frame gets the call's line (and the right function when the call is the
        # last instruction of a noreturn path).
        leaf_is_kernel = bool(sample.kernel_stack)
        for i, addr in enumerate(sample.kernel_stack):
            frames.extend(sym.kernel_frames(addr if i == 0 else addr - 1))
        for i, addr in enumerate(sample.user_stack):
            exact = i == 0 and not leaf_is_kernel
            frames.extend(sym.user_frames(sample.pid, addr if exact else addr - 1))
        if sample.python_stack_id and self.python is not None:
            frames = self.python.frames(sample, frames)
        return frames

    def _frames(self, sample: RawSample, thread: str) -> list[Frame]:
        """Symbolized and transformed frames, cached: the same stacks recur every interval."""
        key = (sample.pid, thread, sample.user_stack, sample.kernel_stack, sample.spawn_chain)
        if sample.python_stack_id and self.python is not None:
            key += (sample.dwarf_unwound, self.python.stack_key(sample))
        cache = self._cache
        frames = cache.get(key)
        if frames is not None:
            cache.move_to_end(key)
            return frames
        while len(cache) >= self.max_cached_stacks:
            old, _ = cache.popitem(last=False)
            keys = self._by_pid.get(old[0])
            if keys is not None:
                keys.discard(old)
                if not keys:
                    del self._by_pid[old[0]]
        frames = self.frames_of(sample)
        for transform in self.transforms:
            frames = transform(frames, thread)
        if sample.spawn_chain and self.spawn_linker is not None:
            frames = self.spawn_linker.link(frames, sample.pid, sample.spawn_chain)
        cache[key] = frames
        self._by_pid.setdefault(sample.pid, set()).add(key)
        return frames

    def forget_process(self, pid: int) -> None:
        """Drop cached stacks of ``pid`` (it exec'd or exited and its pid may be reused)."""
        for key in self._by_pid.pop(pid, ()):
            self._cache.pop(key, None)
        if self.spawn_linker is not None:
            self.spawn_linker.forget_process(pid)

    def run(self, samples: Iterable[RawSample]) -> list[SymbolizedSample]:
        """Symbolize ``samples``; equal stacks with equal labels are merged."""
        merged: dict[tuple, list] = {}
        st = self.stats
        for sample in samples:
            st.samples += sample.count
            st.stacks += 1
            if not sample.user_stack and not sample.kernel_stack:
                st.empty_stacks += sample.count
            thread = self.thread_name(sample.pid, sample.tid) or sample.comm
            frames = self._frames(sample, thread)
            st.frames += len(frames)
            st.unsymbolized_frames += sum(1 for f in frames if f.kind == UNKNOWN)
            labels = self.labels(sample, thread)
            key = (tuple(frames), tuple(sorted(labels.items())))
            entry = merged.get(key)
            if entry is None:
                merged[key] = [tuple(frames), sample.count, labels, sample.off_cpu_ns]
            else:
                entry[1] += sample.count
                entry[3] += sample.off_cpu_ns
        return [
            SymbolizedSample(frames=f, count=c, labels=lb, off_cpu_ns=off)
            for f, c, lb, off in merged.values()
        ]

    def labels(self, sample: RawSample, thread: str) -> dict[str, str | int]:
        """Labels of a sample: pid, tid, process and thread names, container/cgroup if any."""
        info = self.process_info(sample.pid)
        labels: dict[str, str | int] = {
            "pid": sample.pid,
            "tid": sample.tid,
            "thread_name": thread,
            "process_name": info.name if info else sample.comm,
        }
        if sample.thread_state:
            labels["thread.state"] = sample.thread_state  # off-CPU: how the thread waited
        if sample.python_stack_id and self.python is not None:
            labels.update(self.python.labels(sample))
        if info is not None:
            if info.executable:
                labels["executable"] = info.executable
            if info.cgroup and info.cgroup != "/":
                labels["cgroup"] = info.cgroup
            if info.container_id:
                labels["container_id"] = info.container_id
            if info.pod_uid:
                labels["pod_uid"] = info.pod_uid
        return labels
