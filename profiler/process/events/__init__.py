"""Process lifecycle events (fork, exec, exit) from the kernel's proc connector.

:mod:`.wire` decodes the netlink datagrams, :mod:`.watcher` owns the socket
(:class:`ProcessEvents`), :mod:`.deferred` delays exec snapshots until the loader is done,
:mod:`.tracker` turns events into what a profiling session does; ``python -m
profiler.process.events`` prints events as they happen.
"""

from .watcher import (
    ExecEvent,
    ExitEvent,
    ForkEvent,
    Overrun,
    ProcessEvents,
    ProcessEventsError,
    ProcessEventsPermissionError,
    ProcEvent,
)

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
