"""What a profiling session knows of each process, by pid, and the one way to forget it.

One :class:`ProcessRegistry` per session holds, for every process seen: its mappings snapshot
(:class:`~profiler.process.maps.ProcessMaps`, shared by symbolization, unwinding and the
session), its identity (:class:`~profiler.process.info.ProcessInfo`) and its thread names. A
process's state is read on first sight and kept after it exits, until :meth:`forget` (it exited
and its samples are symbolized) or :meth:`reset` (it exec'd a new image). Components that keep
per-process state of their own register a listener and drop it there: that is the one forget
path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .info import ProcessInfo, read_process_info, thread_name
from .maps import ProcessMaps

# (pid, exited): exited=False means the process exec'd (same pid, new image).
ForgetListener = Callable[[int, bool], None]

MAX_MISSING = 1 << 14  # pids remembered as gone-before-seen (bounded)


class ProcessRegistry:
    """Per-process state by pid (thread-safe: the drain and the DWARF reader both ask).

    ``refresh_interval``: at most this often per process, an address outside every known
    mapping re-reads ``/proc/PID/maps`` (dlopen, JIT); the first such miss after a snapshot
    re-reads at once (a snapshot taken at exec time has no libraries yet).
    """

    def __init__(self, proc: str = "/proc", refresh_interval: float = 1.0) -> None:
        self.proc = proc
        self.refresh_interval = refresh_interval
        self._lock = threading.RLock()
        self._maps: dict[int, ProcessMaps] = {}
        self._refreshed: set[int] = set()  # pids whose current snapshot came from a refresh
        self._missing: dict[int, float] = {}  # pid -> when reading its maps failed
        self._infos: dict[int, ProcessInfo | None] = {}
        self._threads: dict[tuple[int, int], str] = {}
        self._listeners: list[ForgetListener] = []
        self.snapshots_taken = 0
        self.snapshot_failures = 0

    # -- mappings -----------------------------------------------------------------------------

    def maps(self, pid: int) -> ProcessMaps | None:
        """``pid``'s mappings: the snapshot taken at first sight, or ``None`` if it was gone."""
        with self._lock:
            maps = self._maps.get(pid)
            if maps is not None:
                return maps
            failed_at = self._missing.get(pid)
            if failed_at is not None and time.monotonic() - failed_at < self.refresh_interval:
                return None
            return self._take(pid)

    def snapshot(self, pid: int) -> ProcessMaps | None:
        """Read ``pid``'s mappings now (replacing the snapshot); the old one if it is gone."""
        with self._lock:
            return self._take(pid)

    def refresh(self, pid: int) -> ProcessMaps | None:
        """A newer snapshot if an address missed the current one and it is old enough."""
        with self._lock:
            maps = self._maps.get(pid)
            if maps is None:
                return self.maps(pid)
            if maps.exited:
                return maps
            fresh_enough = time.monotonic() - maps.taken_at < self.refresh_interval
            if pid in self._refreshed and fresh_enough:
                return maps
            fresh = self._take(pid)
            if fresh is not None and fresh is not maps:
                self._refreshed.add(pid)
            return fresh

    def _take(self, pid: int) -> ProcessMaps | None:
        old = self._maps.get(pid)
        try:
            maps = ProcessMaps.read(pid, self.proc)
        except OSError:
            self.snapshot_failures += 1
            if old is not None:
                old.exited = True
                return old
            if len(self._missing) >= MAX_MISSING:
                self._missing.clear()
            self._missing[pid] = time.monotonic()
            return None
        if not maps.mappings and old is not None and old.mappings:
            old.exited = True  # a zombie (or mid-exit) has no mappings left: keep what we saw
            return old
        self.snapshots_taken += 1
        self._missing.pop(pid, None)
        self._refreshed.discard(pid)
        self._maps[pid] = maps
        return maps

    def snapshots(self) -> list[ProcessMaps]:
        """Every snapshot held (for caches that budget across processes)."""
        with self._lock:
            return list(self._maps.values())

    def pids(self) -> list[int]:
        """The processes with a snapshot."""
        with self._lock:
            return list(self._maps)

    # -- identity -----------------------------------------------------------------------------

    def info(self, pid: int) -> ProcessInfo | None:
        """``pid``'s identity, read on first call and kept (``None`` if it was gone)."""
        with self._lock:
            if pid in self._infos:
                return self._infos[pid]
            info = self._infos[pid] = read_process_info(pid, self.proc)
            return info

    def thread_name(self, pid: int, tid: int) -> str:
        """The name of thread ``tid`` of ``pid`` when first asked ("" if it was gone)."""
        key = (pid, tid)
        with self._lock:
            name = self._threads.get(key)
            if name is None:
                name = self._threads[key] = thread_name(pid, tid, self.proc)
            return name

    # -- forgetting ---------------------------------------------------------------------------

    def add_listener(self, listener: ForgetListener) -> None:
        """Call ``listener(pid, exited)`` whenever a process is forgotten or reset."""
        self._listeners.append(listener)

    def known(self, pid: int) -> bool:
        """Whether anything is held for ``pid``."""
        with self._lock:
            return pid in self._maps or pid in self._infos

    def reset(self, pid: int) -> None:
        """``pid`` exec'd: drop its state (read afresh on next sight) and tell the listeners."""
        self._drop(pid, exited=False)

    def forget(self, pid: int) -> None:
        """``pid`` exited and its samples are symbolized: drop everything held for it."""
        self._drop(pid, exited=True)

    def _drop(self, pid: int, exited: bool) -> None:
        with self._lock:
            self._maps.pop(pid, None)
            self._refreshed.discard(pid)
            self._missing.pop(pid, None)
            self._infos.pop(pid, None)
            for key in [k for k in self._threads if k[0] == pid]:
                del self._threads[key]
        for listener in self._listeners:
            listener(pid, exited)

    def clear(self) -> None:
        """Drop everything (the listeners stay)."""
        with self._lock:
            self._maps.clear()
            self._refreshed.clear()
            self._missing.clear()
            self._infos.clear()
            self._threads.clear()
