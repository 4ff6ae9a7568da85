"""A profiling session's view of processes, kept current by fork/exec/exit events.

:class:`ProcessTracker` turns the proc connector's events into the few things a session does:

- a followed process forks → ``on_new_process(child)`` (add it to the sampler's targets and
  snapshot it) — instead of scanning ``/proc`` at every drain;
- a process execs → after ``delay_s``, once ld.so has mapped its libraries,
  ``on_exec_ready(pids)`` (drop its cached stacks and snapshot the new image) — a process that
  lives a few hundred milliseconds keeps its symbols;
- a process exits → ``on_exit(pid)`` at once (e.g. to end a run when its targets are gone), and
  it is handed back by :meth:`drained` only after a whole drain interval has passed, when no
  undrained sample of it can remain (then forget it);
- events were lost → :meth:`take_rescan` says so once (rescan ``/proc`` as before).

```python
from profiler.process.events.tracker import ProcessTracker
ready = []
with ProcessTracker(on_exec_ready=ready.extend, start_watcher=False) as tracker:
    tracker.drained()                    # after each drain: the pids safe to forget now
```
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from .deferred import DeferredSnapshots
from .watcher import ProcessEvents
from .wire import ExecEvent, ExitEvent, ForkEvent, Overrun, ProcEvent


class ProcessTracker:
    """Follows processes from the kernel's events and calls back the session (a context manager).

    ``roots``: follow these processes and their descendants only (``--pid``); empty: every
    process (whole machine). ``follow_children=False`` keeps the followed set to ``roots``.
    Callbacks run on the watcher's or the deferral's thread: take the session's lock in them.
    ``start_watcher=False`` opens no socket (feed :meth:`handle` yourself, e.g. in tests).
    """

    def __init__(
        self,
        *,
        on_exec_ready: Callable[[list[int]], object],
        on_new_process: Callable[[int], object] | None = None,
        on_exit: Callable[[int], object] | None = None,
        roots: Iterable[int] = (),
        follow_children: bool = True,
        delay_s: float = 0.05,
        batch_interval: float = 0.01,
        start_watcher: bool = True,
    ) -> None:
        self.on_new_process = on_new_process
        self.on_exit = on_exit
        self.follow_children = follow_children
        self._roots = set(roots)
        self._followed = set(self._roots)
        self._lock = threading.Lock()
        self._exited_now: set[int] = set()  # since the last drained()
        self._exited_before: set[int] = set()  # before the last drained(): forgettable next
        self._rescan = False
        self.deferred = DeferredSnapshots(on_exec_ready, delay_s=delay_s)
        self.events: ProcessEvents | None = None
        if start_watcher:
            try:
                self.events = ProcessEvents()
                self.events.start(self.handle, batch_interval=batch_interval)
            except BaseException:
                self.close()
                raise

    def follows(self, pid: int) -> bool:
        """Whether ``pid`` is one of the processes this session profiles."""
        return not self._roots or pid in self._followed

    def followed(self) -> set[int]:
        """The followed pids (roots and the descendants seen fork); empty set = all."""
        with self._lock:
            return set(self._followed) if self._roots else set()

    def handle(self, event: ProcEvent) -> None:
        """Apply one event (the watcher's callback)."""
        if isinstance(event, ForkEvent):
            if event.is_thread or not self._roots or not self.follow_children:
                return
            with self._lock:
                if event.parent_tgid not in self._followed:
                    return
                self._followed.add(event.child_tgid)
            if self.on_new_process is not None:
                self.on_new_process(event.child_tgid)
        elif isinstance(event, ExecEvent):
            if self.follows(event.tgid):
                self.deferred.schedule(event.tgid)
        elif isinstance(event, ExitEvent):
            if event.is_thread or not self.follows(event.tgid):
                return
            self.deferred.cancel(event.tgid)
            with self._lock:
                self._exited_now.add(event.tgid)
            if self.on_exit is not None:
                self.on_exit(event.tgid)
        elif isinstance(event, Overrun):
            with self._lock:
                self._rescan = True

    def add_followed(self, pids: Iterable[int]) -> None:
        """Follow ``pids`` too (e.g. found by a ``/proc`` rescan after an overrun)."""
        with self._lock:
            self._followed.update(pids)

    def drained(self) -> set[int]:
        """Call after each drain: the pids that exited before the *previous* drain.

        A drain reads the map set the sampler filled during the last interval; samples of a
        process taken just before it exited can still be in the other set until the next drain.
        So a pid is handed out (to forget its snapshot and cached stacks, and remove it from
        the sampler's targets) one drain later.
        """
        with self._lock:
            gone, self._exited_before = self._exited_before, self._exited_now
            self._exited_now = set()
            if self._roots:
                self._followed -= gone - self._roots
        return gone

    def take_rescan(self) -> bool:
        """True once after events were lost (the caller should rescan ``/proc``)."""
        with self._lock:
            rescan, self._rescan = self._rescan, False
        return rescan

    @property
    def overruns(self) -> int:
        """How many times the kernel dropped events for us."""
        return self.events.overruns if self.events is not None else 0

    def close(self) -> None:
        """Stop the watcher and the deferral thread (pending exec callbacks are dropped)."""
        if self.events is not None:
            self.events.close()
        self.deferred.run_pending_on_close = False
        self.deferred.close()

    def __enter__(self) -> ProcessTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
