"""Process lifecycle events (fork, exec, exit) from the kernel's proc connector.

```python
from profiler.process.events import ProcessEvents
with ProcessEvents() as events:          # root (CAP_NET_ADMIN) in the initial namespaces
    for event in events.read(timeout=0.1):
        print(event)                     # ForkEvent | ExecEvent | ExitEvent | Overrun
```

The watcher is a netlink socket (``NETLINK_CONNECTOR``, group ``CN_IDX_PROC``) written with the
stdlib ``socket`` module. pyroute2's ``ProcEventSocket`` does the same, but importing it costs
0.09–0.16 s and ~20 MB of RSS on top of the interpreter (its package ``__init__`` imports every
module); this one 13–22 ms and ~2 MB, import and subscribe (``bench/test_bench_proc_events.py``).

Use it from a select loop (:meth:`ProcessEvents.fileno`, :meth:`ProcessEvents.read`) or let it
run its own thread (:meth:`ProcessEvents.start` with a callback). When the kernel drops events
because the receive buffer was full, the caller gets an :class:`Overrun`: rescan ``/proc``.
"""

from __future__ import annotations

import errno
import os
import platform
import select
import socket
import threading
from collections.abc import Callable

from .wire import (
    CN_IDX_PROC,
    NETLINK_CONNECTOR,
    PROC_CN_MCAST_IGNORE,
    PROC_CN_MCAST_LISTEN,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
    ExecEvent,
    ExitEvent,
    ForkEvent,
    Overrun,
    ProcEvent,
    control_message,
    parse_datagram,
)

SO_RCVBUFFORCE = 33  # asm-generic/socket.h: like SO_RCVBUF, past net.core.rmem_max (needs root)
_RECV_SIZE = 64 * 1024  # one datagram is one event (~80 bytes); this never truncates

__all__ = [
    "ExecEvent",
    "ExitEvent",
    "ForkEvent",
    "Overrun",
    "ProcEvent",
    "ProcessEvents",
    "ProcessEventsError",
    "ProcessEventsPermissionError",
]


class ProcessEventsError(OSError):
    """The proc connector cannot be used here (kernel without it, wrong namespace...)."""


class ProcessEventsPermissionError(ProcessEventsError, PermissionError):
    """Subscribing to process events needs CAP_NET_ADMIN in the initial user namespace."""


def _kernel_filters_events() -> bool:
    """Kernel 6.6+ takes an event mask with the subscription and drops other kinds itself."""
    try:
        major, minor = (int(x) for x in platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 6)


def _in_initial_user_namespace() -> bool:
    # The kernel silently ignores subscriptions from other user or pid namespaces: no error,
    # just no events. The initial user namespace maps every uid to itself.
    try:
        with open("/proc/self/uid_map") as f:
            fields = f.read().split()
    except OSError:
        return True  # no user namespaces in this kernel
    return fields == ["0", "0", "4294967295"]


class ProcessEvents:
    """A subscription to the kernel's fork/exec/exit events (a context manager).

    ``threads=False`` (the default) delivers process-level events only: process forks, execs
    and process exits (thread-group leader); ``threads=True`` also delivers thread creations
    and exits (``event.is_thread``). ``rcvbuf`` is the socket receive buffer in bytes: events
    that arrive while it is full are lost, and reported as :class:`Overrun`.

    Counters: ``received`` (events delivered), ``overruns`` (ENOBUFS seen).
    """

    def __init__(self, *, threads: bool = False, rcvbuf: int = 4 << 20) -> None:
        self.threads = threads
        self.received = 0
        self.overruns = 0
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1
        self._stopping = False
        self._closed = False
        self._sock = self._open(rcvbuf)

    def _open(self, rcvbuf: int) -> socket.socket:
        if not _in_initial_user_namespace():
            raise ProcessEventsError(
                errno.EPERM,
                "process events: this process is in a user namespace, and the kernel only "
                "reports process events to listeners in the initial user and pid namespaces "
                "(run the agent in the host namespaces: hostPID, no user namespace)",
            )
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as exc:
            raise ProcessEventsError(
                exc.errno,
                f"process events: cannot open a NETLINK_CONNECTOR socket ({exc.strerror}); "
                "the kernel needs CONFIG_CONNECTOR and CONFIG_PROC_EVENTS",
            ) from None
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            try:
                sock.bind((0, 1 << (CN_IDX_PROC - 1)))
            except PermissionError:
                raise ProcessEventsPermissionError(
                    errno.EPERM,
                    "process events: joining the proc connector's group needs CAP_NET_ADMIN: "
                    "run as root or grant CAP_NET_ADMIN",
                ) from None
            self._port_id = sock.getsockname()[0]
            self._mask = (
                PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT
                if _kernel_filters_events()
                else None
            )
            sock.sendto(control_message(PROC_CN_MCAST_LISTEN, self._port_id, self._mask), (0, 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    # -- select-loop interface --------------------------------------------------------------
    def fileno(self) -> int:
        """The socket's fd: readable when events are waiting (for select/poll loops)."""
        return self._sock.fileno()

    def read(self, timeout: float | None = 0.0) -> list[ProcEvent]:
        """Every event waiting now, after waiting up to ``timeout`` s for the first (None: block).

        Never blocks once events are available. An :class:`Overrun` in the list means events
        were lost before it: the caller should rescan ``/proc``.
        """
        if timeout != 0.0:
            poller = select.poll()
            poller.register(self._sock.fileno(), select.POLLIN)
            if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
                return []
        return self._drain()

    def _drain(self) -> list[ProcEvent]:
        events: list[ProcEvent] = []
        recv = self._sock.recv
        while True:
            try:
                data = recv(_RECV_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                # The kernel could not queue some events for us; the socket keeps working.
                self.overruns += 1
                events.append(Overrun(self.overruns))
                continue
            events.extend(parse_datagram(data, threads=self.threads))
        self.received += sum(1 for e in events if not isinstance(e, Overrun))
        return events

    # -- own-thread interface -----------------------------------------------------------------
    def start(
        self,
        callback: Callable[[ProcEvent], object],
        *,
        batch_interval: float = 0.0,
        name: str = "pp-procevents",
    ) -> None:
        """Call ``callback(event)`` for every event from a background thread until :meth:`close`.

        ``batch_interval`` (seconds): after handling a batch the thread rests this long before it
        reads again, so a burst of events costs one wake-up instead of one each (e.g. 0.01: ten
        milliseconds of extra delay, a fraction of the CPU per event; see the benchmark). If the
        callback raises, the thread stops and the exception is kept in ``self.error``.
        """
        if self._thread is not None:
            raise RuntimeError("ProcessEvents.start() called twice")
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(
            target=self._run, args=(callback, batch_interval), name=name, daemon=True
        )
        self._thread.start()

    def _run(self, callback: Callable[[ProcEvent], object], batch_interval: float) -> None:
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        resting = select.poll()  # the wake pipe alone: close() ends a rest at once
        resting.register(self._wake_r, select.POLLIN)
        rest_ms = int(batch_interval * 1000)
        try:
            while not self._stopping:
                poller.poll()
                if self._stopping:
                    break
                for event in self._drain():
                    if self._stopping:
                        break
                    callback(event)
                if rest_ms > 0:
                    resting.poll(rest_ms)
        except BaseException as exc:
            self.error = exc

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread (if any), unsubscribe and close the socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        try:
            if self._thread is not None:
                os.write(self._wake_w, b"x")
                if self._thread is not threading.current_thread():  # close() from a callback
                    self._thread.join()
                self._thread = None
        finally:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1
            try:
                # Tell the kernel we stop listening (older kernels count listeners and keep
                # building events while the count is above zero).
                msg = control_message(PROC_CN_MCAST_IGNORE, self._port_id, self._mask)
                self._sock.sendto(msg, (0, 0))
            except OSError:
                pass  # closing the socket unsubscribes it anyway
            finally:
                self._sock.close()

    def __enter__(self) -> ProcessEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
