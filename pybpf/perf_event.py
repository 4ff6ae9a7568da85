"""Perf events: ``perf_event_attr`` from ``linux/perf_event.h``, ``perf_event_open``, ioctls.

A :class:`PerfEvent` owns one perf event fd: ``enable()``, ``disable()``, ``read_count()``,
``close()`` (exactly once), and it is a context manager. The openers cover what a profiler needs:

- :func:`open_cpu_clock`: the software ``cpu-clock`` event, sampling at ``freq`` Hz or every
  ``period`` ns, on one CPU (``pid=-1``), for one process (``inherit`` follows its children), or
  for one cgroup on one CPU (``PERF_FLAG_PID_CGROUP``); with neither ``freq`` nor ``period`` it
  only counts nanoseconds.
- :func:`open_cpu_clock_on_cpus`: one of those per online CPU, as a :class:`PerfEventSet`.
- :func:`open_tracepoint`: a tracepoint by ``"category:name"`` (ids from :mod:`pybpf.tracefs`).
- :func:`open_perf_event`: any ``struct perf_event_attr`` built with :func:`new_attr`.

Uprobes live in :mod:`pybpf.uprobe`; attaching BPF programs in :mod:`pybpf.attach`.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .abi import ffi
from .errors import MissingPrivilegesError
from .lifecycle import Closeable, close_all
from .syscall import kernel

# struct perf_event_attr is declared in pybpf.abi_source (PERF_ATTR_SIZE_VER7, 128 bytes).

#: sizeof(struct perf_event_attr) as declared (PERF_ATTR_SIZE_VER7).
ATTR_SIZE = ffi.sizeof("struct perf_event_attr")


class PerfType(enum.IntEnum):
    """``enum perf_type_id`` (dynamic PMUs such as uprobe have their type in sysfs)."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class SoftwareEvent(enum.IntEnum):
    """``enum perf_sw_ids``: the ``config`` of a ``PERF_TYPE_SOFTWARE`` event."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10
    CGROUP_SWITCHES = 11


class SampleType(enum.IntFlag):
    """``enum perf_event_sample_format`` (the bits pybpf uses)."""

    IP = 1 << 0
    TID = 1 << 1
    TIME = 1 << 2
    ADDR = 1 << 3
    READ = 1 << 4
    CALLCHAIN = 1 << 5
    ID = 1 << 6
    CPU = 1 << 7
    PERIOD = 1 << 8
    STREAM_ID = 1 << 9
    RAW = 1 << 10


# perf_event_open(2) flags.
PERF_FLAG_FD_NO_GROUP = 1 << 0
PERF_FLAG_FD_OUTPUT = 1 << 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3


def _ioc(direction: int, kind: str, nr: int, size: int) -> int:
    """The Linux ``_IOC`` encoding (asm-generic/ioctl.h: nr 8 bits, type 8, size 14, dir 2)."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | nr


_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
PERF_EVENT_IOC_ENABLE = _ioc(_IOC_NONE, "$", 0, 0)
PERF_EVENT_IOC_DISABLE = _ioc(_IOC_NONE, "$", 1, 0)
PERF_EVENT_IOC_RESET = _ioc(_IOC_NONE, "$", 3, 0)
PERF_EVENT_IOC_ID = _ioc(_IOC_READ, "$", 7, 8)
PERF_EVENT_IOC_SET_BPF = _ioc(_IOC_WRITE, "$", 8, 4)

ONLINE_CPUS_PATH = "/sys/devices/system/cpu/online"
PARANOID_PATH = "/proc/sys/kernel/perf_event_paranoid"


def parse_cpu_list(text: str) -> list[int]:
    """Parse a sysfs CPU list such as ``"0-3,5,7-8"`` into ``[0, 1, 2, 3, 5, 7, 8]``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def online_cpus() -> list[int]:
    """The CPUs online now, from ``/sys/devices/system/cpu/online``."""
    return parse_cpu_list(Path(ONLINE_CPUS_PATH).read_text())


def new_attr(**fields: int) -> object:
    """A zeroed ``struct perf_event_attr *`` with ``size`` set and ``fields`` assigned.

    >>> attr = new_attr(type=PerfType.SOFTWARE, config=SoftwareEvent.CPU_CLOCK, disabled=1)
    """
    attr = ffi.new("struct perf_event_attr *")
    attr.size = ATTR_SIZE
    for name, value in fields.items():
        setattr(attr, name, int(value))
    return attr


def _paranoid_level() -> str:
    try:
        return Path(PARANOID_PATH).read_text().strip()
    except OSError:
        return "unknown"


def describe_target(pid: int, cpu: int, cgroup: str | None) -> str:
    """What an event watches, for messages: ``"cpu 0"``, ``"pid 42"``, ``"cgroup X on cpu 1"``."""
    if cgroup is not None:
        return f"cgroup {cgroup} on cpu {cpu}"
    if pid == -1:
        return f"cpu {cpu}"
    return f"pid {pid}" + (f" on cpu {cpu}" if cpu != -1 else "")


def translate_open_error(exc: OSError, what: str) -> OSError:
    """Turn a ``perf_event_open`` failure into an error that says why and what to do."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return MissingPrivilegesError(
            exc.errno,
            f"cannot open {what}: {os.strerror(exc.errno)}: perf events need CAP_PERFMON "
            f"(or CAP_SYS_ADMIN before Linux 5.8) or a lower kernel.perf_event_paranoid "
            f"(now {_paranoid_level()}); run as root or grant CAP_PERFMON and CAP_BPF",
        )
    if exc.errno == errno.ESRCH:
        return ProcessLookupError(
            errno.ESRCH, f"cannot open {what}: no such process (has it exited?)"
        )
    if exc.errno == errno.ENOENT:
        return FileNotFoundError(
            errno.ENOENT, f"cannot open {what}: the kernel does not know this event (ENOENT)"
        )
    if exc.errno == errno.EBADF:
        return OSError(exc.errno, f"cannot open {what}: bad cgroup or group fd (EBADF)")
    return OSError(exc.errno, f"cannot open {what}: {os.strerror(exc.errno)}")


class PerfEvent(Closeable):
    """One open perf event: owns its fd and closes it exactly once.

    Built by the ``open_*`` functions; ``description`` says what it counts (for messages).
    """

    def __init__(self, fd: int, *, cpu: int = -1, pid: int = -1, description: str = "") -> None:
        self.fd = fd
        self.cpu = cpu
        self.pid = pid
        self.description = description
        self.KIND = f"perf event {description}"

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self.fd}"
        return f"<PerfEvent {self.description} {state}>"

    def fileno(self) -> int:
        """The perf event fd (so the object works with ``select``/``epoll``)."""
        self._check_open()
        return self.fd

    def ioctl(self, request: int, arg: int | object = 0) -> int:
        """Issue a ``PERF_EVENT_IOC_*`` request on this event through the syscall seam."""
        self._check_open()
        return kernel().ioctl(self.fd, request, arg)

    def enable(self) -> None:
        """Start counting/sampling (``PERF_EVENT_IOC_ENABLE``)."""
        self.ioctl(PERF_EVENT_IOC_ENABLE, 0)

    def disable(self) -> None:
        """Stop counting/sampling (``PERF_EVENT_IOC_DISABLE``)."""
        self.ioctl(PERF_EVENT_IOC_DISABLE, 0)

    def reset(self) -> None:
        """Zero the event's count (``PERF_EVENT_IOC_RESET``)."""
        self.ioctl(PERF_EVENT_IOC_RESET, 0)

    @property
    def id(self) -> int:
        """The kernel's id of this event (``PERF_EVENT_IOC_ID``), as in sample ``ID`` fields."""
        out = ffi.new("uint64_t *")
        self.ioctl(PERF_EVENT_IOC_ID, out)
        return int(out[0])

    def read_count(self) -> int:
        """The event's current count (``read(2)`` of the fd; for cpu-clock, nanoseconds)."""
        self._check_open()
        return int.from_bytes(os.read(self.fd, 8), "little")

    def _release(self) -> None:
        kernel().close(self.fd)


class PerfEventSet(Closeable):
    """Several perf events (typically one per CPU) owned and closed together."""

    def __init__(self, events: Iterable[PerfEvent] = ()) -> None:
        self.events: list[PerfEvent] = list(events)

    def __iter__(self) -> Iterator[PerfEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> PerfEvent:
        return self.events[index]

    def enable(self) -> None:
        """Enable every event."""
        for event in self.events:
            event.enable()

    def disable(self) -> None:
        """Disable every event."""
        for event in self.events:
            event.disable()

    def _release(self) -> None:
        """Close every event (each exactly once), even if one close fails."""
        close_all(event.close for event in self.events)


def open_perf_event(
    attr: object,
    *,
    pid: int = -1,
    cpu: int = -1,
    group_fd: int = -1,
    flags: int = PERF_FLAG_FD_CLOEXEC,
    description: str = "perf event",
) -> PerfEvent:
    """``perf_event_open(attr, pid, cpu, group_fd, flags)`` through the seam, as a PerfEvent.

    Errors are translated by :func:`translate_open_error` (privileges, no such process...).
    """
    try:
        fd = kernel().perf_event_open(attr, pid, cpu, group_fd, flags)
    except OSError as exc:
        raise translate_open_error(exc, description) from exc
    return PerfEvent(fd, cpu=cpu, pid=pid, description=description)


def _sampling_fields(freq: int | None, period: int | None) -> dict[str, int]:
    if freq is not None and period is not None:
        raise ValueError("give freq or period, not both")
    if freq is not None:
        if freq <= 0:
            raise ValueError(f"freq must be positive, got {freq}")
        return {"sample_freq": freq, "freq": 1}
    if period is not None:
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        return {"sample_period": period}
    return {}


def open_cpu_clock(
    *,
    cpu: int = -1,
    pid: int = -1,
    freq: int | None = None,
    period: int | None = None,
    cgroup: str | os.PathLike[str] | None = None,
    inherit: bool | None = None,
    disabled: bool = False,
    sample_type: int = 0,
    wakeup_events: int = 0,
) -> PerfEvent:
    """Open the software ``cpu-clock`` event.

    - ``cpu=c`` (``pid=-1``): everything that runs on CPU ``c``; needs CAP_PERFMON.
    - ``pid=p``: process ``p`` on any CPU; ``inherit`` (default True for a pid) follows the
      children it creates after the open.
    - ``cgroup="/sys/fs/cgroup/..."`` with ``cpu=c``: tasks of that cgroup (v2 directory) on CPU c.

    ``freq`` samples that many times per second (``freq`` flag, ``sample_freq``); ``period``
    samples every ``period`` nanoseconds of CPU time; with neither, the event only counts.
    """
    if cgroup is not None and (pid != -1 or cpu < 0):
        raise ValueError("a cgroup event needs cpu >= 0 and no pid")
    if pid == -1 and cpu < 0:
        raise ValueError("give a cpu (>= 0), a pid, or both")
    if inherit is None:
        inherit = pid != -1
    fields = _sampling_fields(freq, period)
    attr = new_attr(
        type=PerfType.SOFTWARE,
        config=SoftwareEvent.CPU_CLOCK,
        sample_type=sample_type,
        disabled=int(disabled),
        inherit=int(inherit),
        wakeup_events=wakeup_events,
        **fields,
    )
    rate = f" at {freq} Hz" if freq else (f" every {period} ns" if period else "")
    cgroup_text = None if cgroup is None else os.fspath(cgroup)
    description = f"cpu-clock{rate} for {describe_target(pid, cpu, cgroup_text)}"
    if cgroup is None:
        return open_perf_event(attr, pid=pid, cpu=cpu, description=description)
    try:
        cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot open cgroup directory {cgroup}: {exc.strerror}") from exc
    try:
        # The kernel takes its own reference on the cgroup: the directory fd is only needed
        # for the call itself.
        return open_perf_event(
            attr,
            pid=cgroup_fd,
            cpu=cpu,
            flags=PERF_FLAG_FD_CLOEXEC | PERF_FLAG_PID_CGROUP,
            description=description,
        )
    finally:
        os.close(cgroup_fd)


def open_cpu_clock_on_cpus(
    *,
    cpus: Iterable[int] | None = None,
    freq: int | None = None,
    period: int | None = None,
    cgroup: str | os.PathLike[str] | None = None,
    pid: int = -1,
    disabled: bool = False,
) -> PerfEventSet:
    """One :func:`open_cpu_clock` per CPU (default: every online CPU), as a PerfEventSet.

    If one open fails, the events already opened are closed before the error propagates.
    """
    events = PerfEventSet()
    with contextlib.ExitStack() as undo:
        undo.callback(events.close)
        for cpu in online_cpus() if cpus is None else cpus:
            events.events.append(
                open_cpu_clock(
                    cpu=cpu,
                    pid=pid,
                    freq=freq,
                    period=period,
                    cgroup=cgroup,
                    inherit=False,
                    disabled=disabled,
                )
            )
        undo.pop_all()
    return events


def open_tracepoint(category_name: str, *, cpu: int = 0, pid: int = -1) -> PerfEvent:
    """Open the tracepoint ``"category:name"`` (e.g. ``"sched:sched_switch"``).

    A BPF program attached to it runs on every CPU whatever ``cpu`` is (the program hangs on the
    tracepoint, not on this event); ``cpu=0, pid=-1`` is what libbpf uses too.
    """
    from .tracefs import tracepoint_id

    attr = new_attr(
        type=PerfType.TRACEPOINT,
        config=tracepoint_id(category_name),
        sample_period=1,
        wakeup_events=1,
    )
    return open_perf_event(
        attr,
        pid=pid,
        cpu=cpu,
        description=f"tracepoint {category_name} ({describe_target(pid, cpu, None)})",
    )
