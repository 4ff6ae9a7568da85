"""``--unwind auto``: which processes get their user stacks by DWARF instead of frame pointers.

Frame-pointer stacks (``bpf_get_stackid``) cost nothing in user space; DWARF stacks cost a stack
copy per sample and an unwind. So a process is moved to DWARF when its executable keeps no frame
pointers (judged from its unwind table), or when its frame-pointer stacks turn out not to reach
a thread's entry: a complete stack of a dynamically linked program ends in the C library
(``__libc_start_call_main``, ``start_thread``, ``clone3``); one cut short by a missing frame
pointer ends in the program's own code. Looking at the mapping of the outermost address needs
no symbols, so this runs before symbolization. The judgement is not a first look only: every
window of :data:`FP_CHECK_SAMPLES` frame-pointer samples of a process is judged again, so a
process whose later work runs through code without frame pointers (a library it loads, a phase
it enters) is moved then. The caller of a frameless leaf is not judged here: the sampler
recovers it (:mod:`profiler.bpf.leaf_caller`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from ..bpf.samples import RawSample
from ..process.files import HostFile
from ..process.registry import ProcessRegistry
from ..unwind import TableCache

# Libraries where the user stacks of dynamically linked programs end.
C_LIBRARIES = ("libc.so", "libc-", "ld-linux", "ld-musl", "libc.musl", "libpthread")
FP_CHECK_SAMPLES = 30  # frame-pointer samples of a process in one judged window
FP_CHECK_COMPLETE = 0.8  # below this share of complete stacks, switch the process to DWARF


class UnwindPolicy:
    """Chooses, per process, frame pointers or DWARF (``mode`` ``"auto"``; else fixed).

    ``use_dwarf(pids)`` is called (by the session, with the sampler's ``add_dwarf_pids``) for
    each process moved to DWARF after sampling started.
    """

    def __init__(self, mode: str, registry: ProcessRegistry, table_cache: TableCache) -> None:
        self.mode = mode
        self.registry = registry
        self.table_cache = table_cache
        self.use_dwarf: Callable[[list[int]], None] = lambda pids: None
        self.dwarf_pids: set[int] = set()
        self._verdicts: dict[tuple[int, int], bool] = {}  # executable (dev, ino) -> keeps fp
        self._checks: dict[int, list[int]] = {}  # pid -> [fp samples, reaching a C library]

    @property
    def active(self) -> bool:
        """Whether processes are chosen one by one (``--unwind auto``)."""
        return self.mode == "auto"

    def needs_dwarf(self, pid: int) -> bool:
        """Whether ``pid``'s executable keeps no frame pointers (judged once per executable)."""
        if not self.active or pid <= 0:
            return False
        exe = f"{self.registry.proc}/{pid}/exe"
        try:
            st = os.stat(exe)
        except OSError:
            return False  # gone, or a kernel thread
        key = (st.st_dev, st.st_ino)
        verdict = self._verdicts.get(key)
        if verdict is None:
            from ..unwind.frame_pointers import has_frame_pointers

            table = self.table_cache.table_for_source(HostFile(exe))
            verdict = self._verdicts[key] = has_frame_pointers(table) is not False
        return not verdict

    def first_sight(self, pid: int) -> None:
        """A process seen for the first time: move it to DWARF if its executable needs it."""
        if pid not in self.dwarf_pids and self.needs_dwarf(pid):
            self._switch(pid)

    def observe(self, samples: Iterable[RawSample]) -> None:
        """Judge the frame-pointer stacks of processes on frame pointers, a window at a time;
        switch a process whose window is incomplete."""
        if not self.active:
            return
        for sample in samples:
            pid = sample.pid
            if pid in self.dwarf_pids or not sample.user_stack:
                continue
            seen = self._checks.setdefault(pid, [0, 0])
            seen[0] += sample.count
            if self._in_c_library(pid, sample.user_stack[-1]):
                seen[1] += sample.count
            if seen[0] >= FP_CHECK_SAMPLES:
                if seen[1] < FP_CHECK_COMPLETE * seen[0]:
                    self._switch(pid)
                del self._checks[pid]  # the next window starts afresh

    def _switch(self, pid: int) -> None:
        self.dwarf_pids.add(pid)
        self.use_dwarf([pid])

    def _in_c_library(self, pid: int, addr: int) -> bool:
        maps = self.registry.maps(pid)
        if maps is None:
            return True  # gone: no verdict against it
        mapping = maps.find(addr)
        return mapping is not None and os.path.basename(mapping.path).startswith(C_LIBRARIES)

    def forget(self, pid: int, exited: bool) -> None:
        """Drop what was judged of ``pid`` (it exec'd a new image, or exited)."""
        self._checks.pop(pid, None)
        if exited:
            self.dwarf_pids.discard(pid)
