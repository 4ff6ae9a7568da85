"""Attach a loaded BPF program to perf events (cpu-clock, tracepoints, uprobes).

Two kernel mechanisms, chosen automatically:

- ``BPF_LINK_CREATE`` with attach type ``BPF_PERF_EVENT`` (Linux 5.15+): the attachment is a
  *link* fd; closing it detaches the program while the perf event stays open.
- ``PERF_EVENT_IOC_SET_BPF`` (any kernel with BPF perf-event programs): the program hangs on the
  perf event itself until the event's fd is closed; detaching disables the event.

Either way the event is then enabled (``PERF_EVENT_IOC_ENABLE``), as libbpf does, and the
returned :class:`PerfEventAttachment` detaches exactly once (``close()``, context manager).
``method="link"`` or ``method="ioctl"`` forces one mechanism (tests exercise both).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from . import bpf_commands as cmds
from .errors import BPFError, MissingPrivilegesError
from .lifecycle import Closeable, close_all
from .perf_event import PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF
from .programs import ATTACH_TYPE_PERF_EVENT
from .syscall import kernel

Method = Literal["auto", "link", "ioctl"]


class _HasFd(Protocol):
    fd: int


def link_create_supported() -> bool:
    """Whether this kernel attaches programs to perf events with ``BPF_LINK_CREATE`` (5.15+).

    Answered by the cached feature probe :mod:`pybpf.features` (``link_create_perf_event``).
    """
    from .features import have  # lazy: the probe loads a program the first time only

    return have("link_create_perf_event")


class PerfEventAttachment(Closeable):
    """A program attached to one perf event; :meth:`close` detaches it exactly once.

    ``method`` is ``"link"`` (``link_fd`` is the BPF link) or ``"ioctl"`` (``link_fd`` is None).
    The perf event stays open and owned by its creator; close the attachment first.
    """

    def __init__(self, event: _HasFd, method: str, link_fd: int | None) -> None:
        self.event = event
        self.method = method
        self.link_fd = link_fd

    def __repr__(self) -> str:
        state = "detached" if self._closed else "attached"
        return f"<PerfEventAttachment {self.method} event fd={self.event.fd} {state}>"

    def _release(self) -> None:
        """Detach: close the link, or (ioctl) disable the event."""
        if self.link_fd is not None:
            kernel().close(self.link_fd)
        elif not getattr(self.event, "closed", False):
            # SET_BPF cannot be undone: the program goes when the event's fd is closed. Until
            # then, a disabled event no longer fires it. (An event closed already took the
            # program with it, and its fd number may belong to something else by now.)
            kernel().ioctl(self.event.fd, PERF_EVENT_IOC_DISABLE, 0)


def _translate(exc: OSError, what: str) -> OSError:
    if isinstance(exc, BPFError) and not isinstance(exc, MissingPrivilegesError):
        if exc.errno != errno.EPERM:
            return exc
    if exc.errno in (errno.EPERM, errno.EACCES):
        return MissingPrivilegesError(what, command="attach", perf_events=True)
    if exc.errno == errno.EEXIST:
        return BPFError(exc.errno, f"{what}: the perf event already has a program", command=what)
    if exc.errno == errno.EINVAL:
        return BPFError(
            exc.errno,
            f"{what}: invalid argument (is the program's type right for this event? "
            "perf_event programs go on cpu-clock, kprobe programs on uprobes, tracepoint "
            "programs on tracepoints)",
            command=what,
        )
    return exc


def attach_perf_event(
    program: _HasFd, event: _HasFd, *, method: Method = "auto"
) -> PerfEventAttachment:
    """Attach ``program`` (a loaded :class:`pybpf.programs.Program`) to ``event`` and enable it.

    ``method="auto"`` uses ``BPF_LINK_CREATE`` where the kernel has it, else the ioctl.
    """
    if method == "auto":
        method = "link" if link_create_supported() else "ioctl"
    k = kernel()
    if method == "link":
        what = "BPF_LINK_CREATE (BPF_PERF_EVENT)"
        try:
            link_fd = cmds.link_create(program.fd, event.fd, ATTACH_TYPE_PERF_EVENT)
        except OSError as exc:
            raise _translate(exc, what) from exc
        try:
            k.ioctl(event.fd, PERF_EVENT_IOC_ENABLE, 0)
        except BaseException:
            k.close(link_fd)
            raise
        return PerfEventAttachment(event, "link", link_fd)
    if method == "ioctl":
        what = "PERF_EVENT_IOC_SET_BPF"
        try:
            k.ioctl(event.fd, PERF_EVENT_IOC_SET_BPF, program.fd)
            k.ioctl(event.fd, PERF_EVENT_IOC_ENABLE, 0)
        except OSError as exc:
            raise _translate(exc, what) from exc
        return PerfEventAttachment(event, "ioctl", None)
    raise ValueError(f"method must be 'auto', 'link' or 'ioctl', not {method!r}")


class AttachmentSet(Closeable):
    """Several attachments (one program on many per-CPU events), detached together."""

    def __init__(self, attachments: Iterable[PerfEventAttachment] = ()) -> None:
        self.attachments: list[PerfEventAttachment] = list(attachments)

    def __iter__(self) -> Iterator[PerfEventAttachment]:
        return iter(self.attachments)

    def __len__(self) -> int:
        return len(self.attachments)

    def _release(self) -> None:
        """Detach every attachment (each exactly once), even if one fails."""
        close_all(attachment.close for attachment in self.attachments)


def attach_perf_events(
    program: _HasFd, events: Iterable[_HasFd], *, method: Method = "auto"
) -> AttachmentSet:
    """Attach ``program`` to every event in ``events``; on failure detach those done so far."""
    attachments = AttachmentSet()
    with contextlib.ExitStack() as undo:
        undo.callback(attachments.close)
        for event in events:
            attachments.attachments.append(attach_perf_event(program, event, method=method))
        undo.pop_all()
    return attachments
