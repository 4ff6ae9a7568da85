"""Which target processes are still alive, and one signal when none is.

A ``--pid`` profile ends when its targets have all exited (the given processes and the children
they started), so the session keeps the set of live targets: children are added as their fork
events arrive, exits are taken from the exit events (both from the proc connector, in the
kernel's order: a child's fork is always seen before its parent's exit), and ``/proc`` is read
as a fallback where events are missing (no proc connector, events lost, or a target that exited
before the events were followed).

```python
from profiler.process.liveness import TargetLiveness
live = TargetLiveness([4242], on_all_exited=lambda: print("all gone"))
live.added([4243])          # a fork event of a target
live.exited(4242)           # exit events
live.check()                # or read /proc: zombies and vanished pids are gone
```
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from .tree import process_state


class TargetLiveness:
    """The live target pids (thread-safe); ``on_all_exited`` runs once, when the last one goes.

    A zombie counts as exited: it runs no code and will never be sampled again.
    """

    def __init__(
        self, pids: Iterable[int], on_all_exited: Callable[[], object] | None = None
    ) -> None:
        self._alive = set(pids)
        self._lock = threading.Lock()
        self._on_all_exited = on_all_exited
        self._done = False

    def added(self, pids: Iterable[int]) -> None:
        """New targets (children of targets), unless every target has already exited: the run
        is over then, and a late fork event changes nothing."""
        with self._lock:
            if not self._done:
                self._alive.update(pids)

    def exited(self, pid: int) -> None:
        """``pid`` exited (its exit event)."""
        with self._lock:
            self._alive.discard(pid)
        self._maybe_done()

    def check(self, proc: str = "/proc") -> None:
        """Drop the targets ``/proc`` shows gone or zombie (for when events are missing)."""
        with self._lock:
            pids = list(self._alive)
        gone = [pid for pid in pids if process_state(pid, proc) in ("gone", "zombie")]
        with self._lock:
            self._alive.difference_update(gone)
        self._maybe_done()

    def alive(self) -> set[int]:
        """The targets not known to have exited."""
        with self._lock:
            return set(self._alive)

    @property
    def all_exited(self) -> bool:
        """Whether every target has exited."""
        with self._lock:
            return self._done

    def _maybe_done(self) -> None:
        with self._lock:
            if self._done or self._alive:
                return
            self._done = True
        if self._on_all_exited is not None:
            self._on_all_exited()
