"""Per-process CPython state for a session: interpreters found, thread maps kept.

:class:`PythonTracker` is what a session talks to (through :mod:`profiler.session.python`):

- :meth:`~PythonTracker.add_process` on first sight of a process: find its interpreter (cheap
  for processes without a ``python``/``libpython`` mapping: the registry's maps snapshot is
  looked at, nothing opened), register its layout in the kernel's ``py_layouts`` and its
  threads in ``py_threads``.
- :meth:`~PythonTracker.refresh` (at every drain, and from the upkeep thread): re-read the
  thread list of each interpreter whose thread count changed (a thread started mid-profile is
  walked from then on) and retry processes whose runtime was not initialised yet.
- :meth:`~PythonTracker.after_drain`: take the stacks the kernel stored and name their code
  objects while the processes live, then refresh.
- :meth:`~PythonTracker.frames`, :meth:`~PythonTracker.stack_key`,
  :meth:`~PythonTracker.labels`: what the pipeline asks, answered by the tracker's
  :class:`~.stack_names.StackNames` (the processes it found, named).
- :meth:`~PythonTracker.forget` (a :class:`~profiler.process.registry.ProcessRegistry`
  listener): the process exited and its samples are symbolized, or it exec'd.
- :meth:`~PythonTracker.start_upkeep`: a light thread that, every :data:`UPKEEP_S`, names the
  code objects of the stacks the kernel stored since (a process that exits soon after keeps its
  names, however long the drain takes to symbolize native frames) and re-reads thread lists
  every :data:`THREADS_S` (a new thread is walked within half a second). :meth:`close` stops
  it.

``mode``: ``"auto"`` walks every process where a supported CPython is found; ``"on"`` does the
same and warns for every process with a CPython it cannot walk.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..bpf.python_layouts import MAX_LAYOUTS, ThreadEntry, WalkLayout
from ..bpf.python_walk import check_layout
from ..process.threads import task_links
from .code_objects import CodeObjects
from .errors import InterpreterNotFound, MemoryReadError
from .interpreter import Interpreter, find_interpreter
from .layouts import Layout
from .memory import ProcessMemory
from .stack_names import ProcessNames, StackNames
from .threads import interpreter_states, kernel_thread_map

if TYPE_CHECKING:
    from ..bpf.python_stacks import PythonStacks
    from ..bpf.python_walk import PythonMaps
    from ..bpf.samples import RawSample
    from ..frames.model import Frame
    from ..process.registry import ProcessRegistry

log = logging.getLogger("profiler.python")

MAX_RETRIES = 20  # refreshes a process whose runtime is not initialised yet is looked at again
UPKEEP_S = 0.2  # new Python stacks are named this often
THREADS_S = 0.5  # thread lists are re-read this often (when the number of threads changed)
FULL_REFRESH_S = 5.0  # ... and at least this often
# x86_64 prologue of a function that keeps a frame pointer: [endbr64] push %rbp; mov %rsp,%rbp
_ENDBR64 = bytes.fromhex("f30f1efa")
_FP_PROLOGUE = bytes.fromhex("554889e5")
_TID = struct.Struct("<I")


@dataclass
class PythonProcess:
    """One process's interpreter and what we keep for it."""

    interpreter: Interpreter
    memory: ProcessMemory
    layout_id: int
    gil: int = 0  # address of the GIL's last_holder (its locked int is 8 bytes on); 0: unknown
    gc: int = 0  # address of the main interpreter's gc.collecting; 0: unknown
    threads: dict[int, int] = field(default_factory=dict)  # host tid -> PyThreadState
    exited: bool = False
    tasks: int = 0  # links of /proc/PID/task at the last walk of the thread list
    refreshed: float = 0.0  # time.monotonic() of that walk


@dataclass
class PythonTrackerStats:
    """What the tracker did (for reports and benchmarks)."""

    processes: int = 0  # interpreters found
    not_walkable: int = 0  # processes with a CPython we cannot walk (version, free-threaded)
    thread_updates: int = 0  # py_threads entries written
    refreshes: int = 0
    thread_walks: int = 0  # thread lists read (refreshes skip processes whose count is steady)


def walk_layout(layout: Layout) -> WalkLayout:
    """The ``py_layouts`` entry of an interpreter layout."""
    return WalkLayout(
        tstate_frame=layout.tstate_frame,
        cframe_current=layout.cframe_current_frame,
        code=layout.frame_code,
        previous=layout.frame_previous,
        instr=layout.frame_instr,
        owner=layout.frame_owner,
        is_entry=layout.frame_is_entry,
        owner_cstack=layout.owner_cstack,
        owner_skip=layout.owner_interpreter,
        code_adaptive=layout.code_adaptive,
        firstlineno=layout.code_firstlineno,
        code_mask=~layout.code_tag_mask & 0xFFFFFFFFFFFFFFFF,
    )


def _state_addresses(interp: Interpreter, memory: ProcessMemory) -> tuple[int, int]:
    """(address of the GIL's ``last_holder``, address of ``gc.collecting``), 0 where unknown.

    The walk reads ``last_holder`` and ``locked`` in one 16-byte read, so the GIL is known only
    where ``locked`` follows ``last_holder`` by 8 bytes (every version so far).
    """
    lay = interp.layout
    try:
        states = interpreter_states(interp, memory)
    except MemoryReadError:
        return 0, 0
    if not states:
        return 0, 0
    main = states[0]
    gc = main + lay.interp_gc + lay.gc_collecting
    gil = 0
    if lay.gil_locked - lay.gil_holder == 8:
        if lay.gil_base == "runtime":
            gil = interp.runtime + lay.gil_holder
        elif lay.gil_base == "interp":
            gil = main + lay.gil_holder
        elif lay.gil_base == "interp_ptr":
            try:
                pointer = struct.unpack("<Q", memory.read(main + lay.gil_ptr, 8))[0]
            except MemoryReadError:
                pointer = 0
            gil = pointer + lay.gil_holder if pointer else 0
    return gil, gc


def _keeps_frame_pointers(interp: Interpreter, memory: ProcessMemory) -> bool | None:
    """Whether ``_PyEval_EvalFrameDefault`` starts with a frame-pointer prologue (x86_64)."""
    import platform

    if platform.machine() != "x86_64" or not interp.eval_ranges:
        return None
    try:
        code = memory.read(interp.eval_ranges[0][0], 8)
    except MemoryReadError:
        return None
    if code.startswith(_ENDBR64):
        code = code[4:]
    return code.startswith(_FP_PROLOGUE)


class PythonTracker:
    """See the module docstring. ``maps`` and ``stacks``: the sampler's walk maps and its
    reader of ``py_stacks``; ``registry``: the session's processes (maps snapshots, identity)."""

    def __init__(
        self,
        maps: PythonMaps,
        stacks: PythonStacks,
        registry: ProcessRegistry,
        mode: str = "auto",
        report: Iterable[int] = (),
    ) -> None:
        self.maps = maps
        self.stacks = stacks
        self.registry = registry
        self.mode = mode
        self.report = set(report)  # processes to say why they get no Python frames
        self.processes: dict[int, PythonProcess] = {}
        self.not_walkable: dict[int, str] = {}  # pid -> why (kept for reports)
        self._pending: dict[int, int] = {}  # pid -> retries left
        self._layouts: dict[bytes, int] = {}  # packed layout -> id in py_layouts
        self.names = StackNames(stacks)
        self.stats = PythonTrackerStats()
        # The drain thread, the process-event thread and the upkeep thread all use the tracker.
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._found = threading.Event()  # set when there is an interpreter to look after
        self._upkeep: threading.Thread | None = None

    def start_upkeep(self) -> None:
        """Name new stacks and follow threads on a thread of our own (see the module doc)."""

        def run() -> None:
            last_threads = 0.0
            while not self._stop.is_set():
                if not self.processes and not self._pending:
                    # No interpreter to look after (a native target): sleep until one is
                    # found, not every 0.2 s (each look reads the whole stacks map).
                    self._found.wait()
                    self._found.clear()
                    continue
                if self._stop.wait(UPKEEP_S):
                    break
                self.names.name_new_stacks()
                now = time.monotonic()
                if now - last_threads >= THREADS_S:
                    last_threads = now
                    self.refresh()

        self._upkeep = threading.Thread(target=run, name="pp-python", daemon=True)
        self._upkeep.start()

    def close(self) -> None:
        """Stop the upkeep thread (the kernel maps belong to the sampler)."""
        self._stop.set()
        self._found.set()
        if self._upkeep is not None and self._upkeep is not threading.current_thread():
            self._upkeep.join()
            self._upkeep = None

    # -- processes --------------------------------------------------------------------------
    def add_process(self, pid: int) -> bool:
        """Look for a CPython in ``pid``; True when its frames will be walked. Why not is
        logged as a warning for the processes of ``report`` (and, with ``mode="on"``, for
        every process with a CPython we cannot walk)."""
        with self._lock:
            found = self._add_process(pid, pid in self.report)
            if self.processes or self._pending:
                self._found.set()
            return found

    def _add_process(self, pid: int, report: bool) -> bool:
        if pid in self.processes or pid <= 0:
            return pid in self.processes
        snapshot = self.registry.maps(pid)
        if snapshot is None:
            if report:
                log.warning("no Python frames for pid %d: it is gone", pid)
            return False
        info = self.registry.info(pid)
        memory = ProcessMemory(pid)
        try:
            interp = find_interpreter(pid, snapshot, memory, info.executable if info else "")
            threads = kernel_thread_map(interp, memory)
        except InterpreterNotFound as exc:
            self._not_found(pid, exc, report)
            return False
        except MemoryReadError as exc:
            reason = f"pid {pid}: cannot read its thread states ({exc})"
            self._not_found(pid, InterpreterNotFound(reason, retry=True), report)
            return False
        if not threads and not self._pending.get(pid):
            # Caught before Py_Initialize made its first thread state: look again later.
            self._pending.setdefault(pid, MAX_RETRIES)
        try:
            layout_id = self._layout_id(interp)
        except InterpreterNotFound as exc:
            self._not_found(pid, exc, report)
            return False
        proc = PythonProcess(interpreter=interp, memory=memory, layout_id=layout_id)
        proc.gil, proc.gc = _state_addresses(interp, memory)
        self.processes[pid] = proc
        codes = CodeObjects(memory, interp.layout, interp.code_type)
        fp = _keeps_frame_pointers(interp, memory)
        self.names.add(pid, ProcessNames(codes, interp.eval_ranges, fp))
        self._pending.pop(pid, None)
        self.not_walkable.pop(pid, None)
        self.stats.processes += 1
        self._update_threads(pid, proc, threads)
        log.debug("pid %d: CPython %s in %s", pid, interp.version_text, interp.binary)
        return True

    def _not_found(self, pid: int, exc: InterpreterNotFound, report: bool) -> None:
        if exc.version or "free-threaded" in exc.reason:
            self.not_walkable[pid] = exc.reason
            self.stats.not_walkable += 1
            warn = report or self.mode == "on"
            (log.warning if warn else log.info)("no Python frames for %s", exc.reason)
        elif exc.retry:
            self._pending.setdefault(pid, MAX_RETRIES)
        elif report:
            log.warning("no Python frames for %s", exc.reason)

    def _layout_id(self, interp: Interpreter) -> int:
        entry = walk_layout(interp.layout)
        try:
            check_layout(entry)
        except ValueError as exc:
            raise InterpreterNotFound(f"pid {interp.pid}: {exc}", interp.layout.version) from exc
        packed = WalkLayout.pack(entry)
        layout_id = self._layouts.get(packed)
        if layout_id is None:
            if len(self._layouts) >= MAX_LAYOUTS:
                raise InterpreterNotFound(
                    f"pid {interp.pid}: more than {MAX_LAYOUTS} distinct CPython builds"
                )
            layout_id = len(self._layouts)
            self.maps.layouts.update(_TID.pack(layout_id), packed)
            self._layouts[packed] = layout_id
        return layout_id

    def _update_threads(self, pid: int, proc: PythonProcess, threads: dict[int, int]) -> None:
        for tid in set(proc.threads) - set(threads):
            with contextlib.suppress(KeyError, OSError):
                self.maps.threads.delete(_TID.pack(tid))
        changed = False
        if threads and not proc.gil:  # 3.12 sets its GIL pointer during start-up
            gil, gc = _state_addresses(proc.interpreter, proc.memory)
            changed = gil != proc.gil
            proc.gil, proc.gc = gil, gc or proc.gc
        for tid, tstate in threads.items():
            if changed or proc.threads.get(tid) != tstate:
                entry = ThreadEntry(tstate, proc.layout_id, pid, proc.gil, proc.gc)
                self.maps.threads.update(_TID.pack(tid), ThreadEntry.pack(entry))
                self.stats.thread_updates += 1
        proc.threads = dict(threads)

    def refresh(self) -> None:
        """Re-read every interpreter's threads; retry processes not ready at first sight."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        self.stats.refreshes += 1
        now = time.monotonic()
        for pid, proc in list(self.processes.items()):
            if proc.exited:
                continue
            # The number of threads (links of /proc/PID/task) is one stat: when it did not
            # change, skip the walk of the thread list, but not for longer than FULL_REFRESH_S
            # (a thread may have exited and another started in between).
            tasks = task_links(pid)
            if tasks == proc.tasks and tasks > 0 and now - proc.refreshed < FULL_REFRESH_S:
                continue
            proc.tasks, proc.refreshed = tasks, now
            self.stats.thread_walks += 1
            try:
                threads = kernel_thread_map(proc.interpreter, proc.memory)
            except MemoryReadError:
                proc.exited = True  # gone (or unreadable): keep its names, drop its threads
                threads = {}
            self._update_threads(pid, proc, threads)
        for pid, left in list(self._pending.items()):
            if pid in self.processes or left <= 0:
                self._pending.pop(pid, None)
                continue
            self._pending[pid] = left - 1
            self._add_process(pid, False)

    def forget(self, pid: int, exited: bool = True) -> None:
        """Drop ``pid``: it exited and its samples are symbolized, or it exec'd (``exited``
        False: looked for afresh at its next first sight). A registry listener."""
        with self._lock:
            proc = self.processes.pop(pid, None)
            if proc is not None:
                self._update_threads(pid, proc, {})
            self.names.forget(pid)
            self._pending.pop(pid, None)
            self.not_walkable.pop(pid, None)

    def after_drain(self) -> None:
        """Right after a drain: take the stacks the kernel stored since and name their code
        objects now, before anything slower (native symbolization) runs (a process may exit at
        any moment, and its memory with it); then follow new threads."""
        self.names.name_new_stacks()
        self.refresh()

    # -- frames (see .stack_names) -------------------------------------------------------
    def frames(self, sample: RawSample, native: list[Frame]) -> list[Frame]:
        """``native`` (kernel + user frames, leaf first) with the sample's Python frames merged."""
        return self.names.frames(sample, native)

    def stack_key(self, sample: RawSample) -> tuple:
        """What identifies the sample's named Python stack (see ``StackNames.stack_key``)."""
        return self.names.stack_key(sample)

    def labels(self, sample: RawSample) -> dict[str, str]:
        """Labels of a sample of a known Python thread: GIL held or not, in GC or not."""
        return self.names.labels(sample)
