"""SIGINT and SIGTERM as an event, from the first line of ``main`` to the last.

A profiler killed during its first second (while it imports, loads and attaches) must still exit
cleanly: no traceback, nothing left loaded. So the handlers are installed before anything else
happens, they only set an event, and every long step checks it.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType


class StopOnSignals:
    """Turn SIGINT and SIGTERM into :attr:`event` (a context manager restoring the old handlers).

    ``signum`` is the first signal received (``None`` until then), ``last`` the latest and
    ``received`` how many came (``record`` escalates on a second Ctrl-C).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.last: int | None = None
        self.received = 0
        self._old: dict[int, object] = {}
        self._wakeup: tuple[int, int] | None = None
        self._old_wakeup_fd = -1

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        self.last = signum
        self.received += 1
        self.event.set()

    def __enter__(self) -> StopOnSignals:
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        # A pipe the interpreter writes a byte to on every signal: a thread blocked in
        # select() on it (see fileno) wakes up, so nobody needs to poll for signals.
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wakeup = (r, w)
        self._old_wakeup_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def fileno(self) -> int:
        """A file descriptor that becomes readable when a signal arrives (for ``select``)."""
        if self._wakeup is None:
            raise ValueError("StopOnSignals is not installed")
        return self._wakeup[0]

    def clear_wakeup(self) -> None:
        """Read away the bytes signals wrote to :meth:`fileno` (after handling them)."""
        if self._wakeup is not None:
            try:
                while os.read(self._wakeup[0], 4096):
                    pass
            except BlockingIOError:
                pass

    @property
    def stopped(self) -> bool:
        """Whether a stop was asked for."""
        return self.event.is_set()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for a stop; True if one came."""
        return self.event.wait(timeout)
