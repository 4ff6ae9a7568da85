"""Run a callback for pids a short while after their exec, once ld.so has mapped their libraries.

At the exec event only the executable and the dynamic loader are mapped; the shared libraries
follow within milliseconds. :class:`DeferredSnapshots` waits ``delay_s`` after the *last* exec
of a pid (a shell that execs its command counts once), then calls ``callback(pids)`` with every
pid that came due, in one batch, so the caller can take one lock and snapshot them all.

```python
from profiler.process.events.deferred import DeferredSnapshots
batches = []
with DeferredSnapshots(batches.append, delay_s=0.05) as deferred:
    deferred.schedule(1)
    deferred.schedule(1)               # coalesced: one call, 50 ms after the last schedule
assert batches == [[1]]                # (here close() ran it: run_pending_on_close=True)
```
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class DeferredSnapshots:
    """Call ``callback(pids)`` ``delay_s`` seconds after the last :meth:`schedule` of each pid.

    Runs its own thread unless ``thread=False``; then the owner calls :meth:`run_due` itself
    (e.g. from a select loop, waiting :meth:`next_due_in` seconds). :meth:`cancel` drops a pid
    (it exited: there is nothing left to snapshot). On :meth:`close` pending pids are run at
    once unless ``run_pending_on_close=False``. Exceptions from the callback are kept in
    ``error`` (the thread carries on).
    """

    def __init__(
        self,
        callback: Callable[[list[int]], object],
        delay_s: float = 0.05,
        *,
        thread: bool = True,
        run_pending_on_close: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.delay_s = delay_s
        self.run_pending_on_close = run_pending_on_close
        self.calls = 0
        self.error: BaseException | None = None
        self._clock = clock
        # pid -> due time. Rescheduling deletes and re-inserts, so with one constant delay the
        # dict stays ordered by due time and the first entry is always the next one due.
        self._pending: dict[int, float] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, name="pp-deferred", daemon=True)
            self._thread.start()

    def schedule(self, pid: int) -> None:
        """Call back for ``pid`` ``delay_s`` from now (postponed if it was already pending)."""
        with self._cond:
            self._pending.pop(pid, None)
            self._pending[pid] = self._clock() + self.delay_s
            if len(self._pending) == 1:
                self._cond.notify()

    def cancel(self, pid: int) -> None:
        """Forget ``pid`` if it is pending."""
        with self._cond:
            self._pending.pop(pid, None)

    def pending(self) -> list[int]:
        """The pids waiting for their call, next due first."""
        with self._cond:
            return list(self._pending)

    def next_due_in(self) -> float | None:
        """Seconds until the next pid is due (0 if overdue), or None if nothing is pending."""
        with self._cond:
            return self._next_due_in()

    def _next_due_in(self) -> float | None:
        for due in self._pending.values():
            return max(0.0, due - self._clock())
        return None

    def run_due(self) -> list[int]:
        """Call back for every pid that is due now; returns them."""
        with self._cond:
            due = self._take_due(self._clock())
        self._call(due)
        return due

    def _take_due(self, now: float) -> list[int]:
        due = []
        for pid, when in self._pending.items():
            if when > now:
                break
            due.append(pid)
        for pid in due:
            del self._pending[pid]
        return due

    def _call(self, pids: Iterable[int]) -> None:
        pids = list(pids)
        if not pids:
            return
        self.calls += 1
        try:
            self.callback(pids)
        except Exception as exc:  # kept for the owner; one bad batch must not stop the rest
            self.error = exc

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    wait = self._next_due_in()
                    if wait == 0.0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                due = self._take_due(self._clock())
            self._call(due)  # outside the lock: the callback may take its own locks

    def close(self) -> None:
        """Stop the thread; run (or drop, see ``run_pending_on_close``) what is pending."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None
        with self._cond:
            pending, self._pending = list(self._pending), {}
        if self.run_pending_on_close:
            self._call(pending)

    def __enter__(self) -> DeferredSnapshots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
