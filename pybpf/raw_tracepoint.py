"""Raw tracepoints: attach a ``RAW_TRACEPOINT`` (or BTF ``TRACING``) program by tracepoint name.

``BPF_RAW_TRACEPOINT_OPEN`` (Linux 4.17+) hangs the program directly on the tracepoint's
callback: the program gets the tracepoint's own arguments (``u64`` each) instead of the trace
record the classic tracepoint builds first, which is what makes it cheaper per event. The
returned :class:`RawTracepointLink` owns the fd the kernel gives back; closing it detaches
(the one close life cycle of :mod:`pybpf.lifecycle`).

For a BTF tracepoint (``tp_btf``: a ``TRACING`` program loaded with ``attach_btf_id``) the name is
None: the program itself names its tracepoint.
"""

from __future__ import annotations

import errno
from typing import Protocol

from . import bpf_commands as cmds
from .errors import BPFError
from .owned_fd import OwnedFd


class _HasFd(Protocol):
    fd: int


class RawTracepointLink(OwnedFd):
    """A program attached to a raw tracepoint; :meth:`close` detaches it (exactly once)."""

    KIND = "raw tracepoint link"

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<RawTracepointLink {self.name!r} {state}>"


def attach_raw_tracepoint(program: _HasFd, name: str | None) -> RawTracepointLink:
    """Attach ``program`` (a loaded program) to raw tracepoint ``name``.

    ``name`` is the tracepoint's name without its category (``"sched_switch"``), or None for a
    BTF tracepoint program. Raises :class:`BPFError` (``ENOENT``: no such tracepoint;
    ``EINVAL``: the program reads more arguments than the tracepoint has, or is of the wrong
    type; EPERM as :class:`~pybpf.errors.MissingPrivilegesError`).
    """
    try:
        fd = cmds.raw_tracepoint_open(program.fd, name)
    except BPFError as exc:
        if exc.errno == errno.ENOENT:
            raise BPFError(
                exc.errno,
                f"attach raw tracepoint {name}: no such tracepoint "
                "(see /sys/kernel/tracing/available_events)",
                command="BPF_RAW_TRACEPOINT_OPEN",
            ) from None
        raise
    return RawTracepointLink(fd, name or "(BTF)")
