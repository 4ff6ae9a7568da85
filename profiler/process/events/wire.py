"""The proc connector's wire format: the subscribe message and the events it delivers.

Layouts from the kernel UAPI (``linux/netlink.h``, ``linux/connector.h``, ``linux/cn_proc.h``),
native byte order. Each datagram holds netlink messages::

    struct nlmsghdr   { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }            16 bytes
    struct cn_msg     { u32 idx; u32 val; u32 seq; u32 ack; u16 len; u16 flags; }    20 bytes
    struct proc_event { u32 what; u32 cpu; u64 timestamp_ns; union event_data; }

``event_data`` for the events we decode (pids are ``__kernel_pid_t``, a signed int):
fork ``{parent_pid, parent_tgid, child_pid, child_tgid}``, exec ``{process_pid, process_tgid}``,
exit ``{process_pid, process_tgid, u32 exit_code, u32 exit_signal, parent_pid, parent_tgid}``
(the parent fields exist since 4.18; older kernels send the first four only).

Pure functions on bytes: testable without a kernel.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3  # the connector sends and expects its messages as NLMSG_DONE
NLMSG_ERROR = 2
NLMSG_OVERRUN = 4

PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

PROC_EVENT_NONE = 0x0
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_EXIT = 0x80000000

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")
_FORK = struct.Struct("=iiii")
_EXEC = struct.Struct("=ii")
_EXIT = struct.Struct("=iiIi")  # exit_signal is -1 for threads that notify nobody
_PAYLOAD = _NLMSGHDR.size + _CN_MSG.size  # where proc_event starts in a message
_DATA = _PAYLOAD + _EVENT_HEAD.size  # where event_data starts


@dataclass(frozen=True, slots=True)
class ForkEvent:
    """A new task. ``is_thread``: a thread of ``child_tgid`` (clone with CLONE_THREAD).

    For a process, ``parent_tgid`` is the process that forked it. For a thread the kernel reports
    the *process's* parent as parent (a thread's real_parent); the owning process is
    ``child_tgid``.
    """

    parent_tgid: int
    parent_tid: int
    child_tgid: int
    child_tid: int
    timestamp_ns: int  # CLOCK_MONOTONIC, as time.monotonic_ns()

    @property
    def is_thread(self) -> bool:
        """True for a new thread in an existing process, False for a new process."""
        return self.child_tid != self.child_tgid


@dataclass(frozen=True, slots=True)
class ExecEvent:
    """Process ``tgid`` replaced its image (execve); its mappings are new from now on."""

    tgid: int
    tid: int
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ExitEvent:
    """Task ``tid`` of process ``tgid`` exited; ``exit_code`` is the raw wait status.

    ``is_thread`` is True when a thread other than the group leader exited (the process lives
    on); the leader's exit (``tid == tgid``) is the process's exit.
    """

    tgid: int
    tid: int
    exit_code: int
    exit_signal: int
    timestamp_ns: int

    @property
    def is_thread(self) -> bool:
        """True when a non-leader thread exited."""
        return self.tid != self.tgid

    @property
    def status(self) -> int | None:
        """The exit status (``exit(n)`` → n), or None if a signal killed it."""
        return (self.exit_code >> 8) & 0xFF if self.exit_code & 0x7F == 0 else None

    @property
    def signal(self) -> int | None:
        """The signal that killed it, or None if it exited normally."""
        sig = self.exit_code & 0x7F
        return sig or None


@dataclass(frozen=True, slots=True)
class Overrun:
    """The kernel dropped events (socket receive buffer full, ENOBUFS): rescan /proc."""

    count: int  # overruns seen so far by this watcher


ProcEvent = ForkEvent | ExecEvent | ExitEvent | Overrun


def control_message(op: int, port_id: int, event_mask: int | None, seq: int = 0) -> bytes:
    """The netlink message that subscribes (LISTEN) or unsubscribes (IGNORE) ``port_id``.

    With ``event_mask`` the payload is ``struct proc_input {mcast_op; event_type}`` (kernel 6.6+:
    the kernel drops the other event kinds before they reach us); without, the 4-byte
    ``enum proc_cn_mcast_op`` every kernel accepts (all events).
    """
    body = struct.pack("=II", op, event_mask) if event_mask is not None else struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, seq, 0, len(body), 0)
    length = _NLMSGHDR.size + len(cn) + len(body)
    return _NLMSGHDR.pack(length, NLMSG_DONE, 0, seq, port_id) + cn + body


def parse_datagram(data: bytes, *, threads: bool = True) -> list[ProcEvent]:
    """Decode the fork, exec and exit events in one datagram; other kinds are skipped.

    ``threads=False`` drops thread forks and non-leader thread exits (the bulk of the events on a
    busy machine, and nothing a per-process profiler needs) before any object is built.
    """
    events: list[ProcEvent] = []
    offset, end = 0, len(data)
    while offset + _DATA <= end:
        length, msg_type = _NLMSGHDR.unpack_from(data, offset)[:2]
        if length < _NLMSGHDR.size or offset + length > end:
            break  # truncated or garbage: nothing more to trust in this datagram
        if msg_type == NLMSG_DONE and length >= _DATA:
            idx, val = _CN_MSG.unpack_from(data, offset + _NLMSGHDR.size)[:2]
            if idx == CN_IDX_PROC and val == CN_VAL_PROC:
                event = _decode(data, offset, length, threads)
                if event is not None:
                    events.append(event)
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return events


def _decode(data: bytes, offset: int, length: int, threads: bool) -> ProcEvent | None:
    what, _cpu, ts = _EVENT_HEAD.unpack_from(data, offset + _PAYLOAD)
    at, size = offset + _DATA, length - _DATA
    if what == PROC_EVENT_FORK and size >= _FORK.size:
        ppid, ptgid, cpid, ctgid = _FORK.unpack_from(data, at)
        if cpid != ctgid and not threads:
            return None
        return ForkEvent(ptgid, ppid, ctgid, cpid, ts)
    if what == PROC_EVENT_EXEC and size >= _EXEC.size:
        pid, tgid = _EXEC.unpack_from(data, at)
        return ExecEvent(tgid, pid, ts)
    if what == PROC_EVENT_EXIT and size >= _EXIT.size:
        pid, tgid, code, sig = _EXIT.unpack_from(data, at)
        if pid != tgid and not threads:
            return None
        return ExitEvent(tgid, pid, code, sig, ts)
    return None


def encode_event(event: ProcEvent, cpu: int = 0, seq: int = 0) -> bytes:
    """One datagram as the kernel would send ``event`` (for tests and benchmarks)."""
    if isinstance(event, ForkEvent):
        what = PROC_EVENT_FORK
        body = _FORK.pack(event.parent_tid, event.parent_tgid, event.child_tid, event.child_tgid)
    elif isinstance(event, ExecEvent):
        what, body = PROC_EVENT_EXEC, _EXEC.pack(event.tid, event.tgid)
    elif isinstance(event, ExitEvent):
        what = PROC_EVENT_EXIT
        body = _EXIT.pack(event.tid, event.tgid, event.exit_code, event.exit_signal)
        body += struct.pack("=ii", 0, 0)  # parent_pid, parent_tgid (not decoded)
    else:
        raise TypeError(f"cannot encode {event!r}")
    # The union is as large as its largest member (24 bytes): the kernel always sends it whole.
    payload = _EVENT_HEAD.pack(what, cpu, event.timestamp_ns) + body.ljust(24, b"\0")
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, seq, 0, len(payload), 0)
    length = _NLMSGHDR.size + len(cn) + len(payload)
    return _NLMSGHDR.pack(length, NLMSG_DONE, 0, seq, 0) + cn + payload
