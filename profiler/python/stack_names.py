"""The Python stacks of a session's samples, named: frames, keys, labels, merged stacks.

:class:`StackNames` holds, per process whose interpreter the tracker found, its code objects
(:mod:`.code_objects`, read from the process's memory and cached) and the named form of each
stored frame ``(code, instruction offset, word)``. It resolves a sample's Python stack id through
the walk's stacks reader (:class:`profiler.bpf.python_stacks.PythonStacks`) and answers what the
pipeline asks (:class:`profiler.frames.pipeline.PythonFrames`): the sample's stack with its
Python frames merged in (:mod:`.merge`), a key of the named stack, and the thread's labels.
Thread-safe: the drain and the tracker's upkeep thread both name stacks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..bpf.python_layouts import FIRST_LINE_MASK, RUN_END, STATE_GC, STATE_GIL, STATE_KNOWN
from ..frames.model import PYTHON, PYTHON_MODULE, Frame
from .code_objects import CodeObjects
from .merge import merge, split_runs

if TYPE_CHECKING:
    from ..bpf.python_stacks import PyFrames, PythonStacks
    from ..bpf.samples import RawSample

MAX_FRAME_CACHE = 1 << 14  # named frames (and stack keys) per process; serials in all (each
# entry ~300 bytes: a whole-machine agent keeps one cache per Python process)


@dataclass
class ProcessNames:
    """What naming keeps for one process."""

    codes: CodeObjects
    eval_ranges: tuple[tuple[int, int], ...]  # runtime ranges of the bytecode loop
    keeps_frame_pointers: bool | None  # whether the interpreter loop keeps a frame pointer
    # (code, offset, word) -> (frame, its serial: equal frames share one) or None (skipped)
    frames: dict[tuple[int, int, int], tuple[Frame, int] | None] = field(default_factory=dict)
    keys: dict[int, tuple] = field(default_factory=dict)  # stack id -> stack_key()


@dataclass
class NamingStats:
    """What naming did (for reports and benchmarks)."""

    frames_named: int = 0
    unknown_code: int = 0  # frames whose code object could not be read as one


class StackNames:
    """See the module docstring. ``stacks``: the walk's stacks reader."""

    def __init__(self, stacks: PythonStacks) -> None:
        self.stacks = stacks
        self.processes: dict[int, ProcessNames] = {}
        self.stats = NamingStats()
        self._serials: dict[Frame, int] = {}  # a number per distinct Python frame (stack keys)
        # One object per distinct stack key: the thousands of stack ids of a recursive
        # program's offset variants name a few stacks, and their keys share them.
        self._keys: dict[tuple, tuple] = {}
        self._next_serial = 1
        self._lock = threading.RLock()

    def add(self, pid: int, names: ProcessNames) -> None:
        """Name the Python stacks of ``pid`` from now on."""
        with self._lock:
            self.processes[pid] = names

    def forget(self, pid: int) -> None:
        """Drop what is kept for ``pid`` (it exited and its samples are symbolized, or exec'd)."""
        with self._lock:
            self.processes.pop(pid, None)

    def name_new_stacks(self) -> None:
        """Take the stacks the kernel stored since the last call and name their frames now,
        while their processes live (nothing to read while no interpreter is known: the walk
        stores stacks only for the threads of known ones)."""
        if not self.processes:
            return
        for pid, frames in self.stacks.take_new():
            with self._lock:
                self._named(pid, frames)

    def _named(self, pid: int, stack: PyFrames) -> tuple[list[list[Frame]], tuple]:
        """(runs, key): the runs of Python frames, and a key of the named stack (the frames'
        serial numbers and run ends) that is equal for stacks that read the same."""
        proc = self.processes.get(pid)
        if proc is None:
            return [], ()
        frames: list[Frame] = []
        serials: list[int] = []
        ends: list[bool] = []
        cache = proc.frames
        for entry in stack:
            got = cache.get(entry, False)
            if got is False:
                got = self._intern(self._frame(proc, *entry))
                if len(cache) >= MAX_FRAME_CACHE:
                    cache.clear()
                    proc.keys.clear()
                cache[entry] = got
            if got is None:
                if entry[2] & RUN_END and ends:
                    ends[-1] = True  # a skipped frame ends its run: its caller ends it now
                continue
            frames.append(got[0])
            serials.append(got[1])
            ends.append(bool(entry[2] & RUN_END))
        key = (tuple(serials), tuple(ends))
        shared = self._keys.get(key)
        if shared is None:
            if len(self._keys) >= MAX_FRAME_CACHE:
                self._keys.clear()
            shared = self._keys[key] = key
        return split_runs(frames, ends), shared

    def _intern(self, frame: Frame | None) -> tuple[Frame, int] | None:
        """``frame`` with the serial number of the first equal frame (never reused)."""
        if frame is None:
            return None
        serial = self._serials.get(frame)
        if serial is None:
            if len(self._serials) >= MAX_FRAME_CACHE:
                self._serials.clear()  # later equal frames get new numbers: keys stay unique
            serial = self._serials[frame] = self._next_serial
            self._next_serial += 1
        return frame, serial

    def _frame(self, proc: ProcessNames, code: int, offset: int, word: int) -> Frame | None:
        info = proc.codes.get(code, word & FIRST_LINE_MASK)
        if offset >= 1 << 31:
            offset -= 1 << 32  # the walk stores a signed difference in 32 bits
        if info.lines is not None and offset < info.first_traceable:
            return None  # pushed but not started (an incomplete frame): not running yet
        if info.filename == "" and info.first_line == 0:
            self.stats.unknown_code += 1
        self.stats.frames_named += 1
        return Frame(
            function=info.qualname,
            file=info.filename,
            line=info.line_at(max(offset, 0)),
            module=PYTHON_MODULE,
            kind=PYTHON,
            start_line=info.first_line,
            system_name=info.name if info.name != info.qualname else "",
        )

    def stack_key(self, sample: RawSample) -> tuple:
        """What identifies the sample's Python stack once named: its frames (by serial: equal
        frames share one) and run ends. Instruction offsets that map to the same line give the
        same key, so a pipeline caching by it merges and symbolizes each named stack once (a
        recursive function makes thousands of offset variants of a few named stacks).
        """
        stack_id = sample.python_stack_id
        proc = self.processes.get(sample.pid)
        if proc is None or not stack_id:
            return (stack_id,)
        key = proc.keys.get(stack_id)
        if key is None:
            with self._lock:
                key = self._named(sample.pid, self.stacks.resolve(sample.pid, stack_id))[1]
                if len(proc.keys) >= MAX_FRAME_CACHE:
                    proc.keys.clear()
                proc.keys[stack_id] = key
        return key

    def labels(self, sample: RawSample) -> dict[str, str]:
        """Labels of a sample of a known Python thread: GIL held or not, in GC or not."""
        state = sample.python_stack_id
        out = {}
        if state & STATE_KNOWN:
            out["python_gil"] = "held" if state & STATE_GIL else "not held"
        if state & STATE_GC:
            out["python_gc"] = "collecting"
        return out

    def frames(self, sample: RawSample, native: list[Frame]) -> list[Frame]:
        """``native`` (kernel + user frames, leaf first) with the sample's Python frames merged."""
        if not sample.python_stack_id:
            return native
        with self._lock:
            stack = self.stacks.resolve(sample.pid, sample.python_stack_id)
            runs = self._named(sample.pid, stack)[0] if stack else []
            proc = self.processes.get(sample.pid)
        if not runs:
            return native
        reliable = sample.dwarf_unwound or proc is None or proc.keeps_frame_pointers is not False
        ranges = proc.eval_ranges if proc is not None else ()
        return merge(native, runs, native_reliable=reliable, eval_ranges=ranges)
