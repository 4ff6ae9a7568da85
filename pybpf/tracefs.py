"""tracefs: where it is mounted, and tracepoint ids by ``"category:name"``.

A tracepoint perf event's ``config`` is the id the kernel publishes in
``<tracefs>/events/<category>/<name>/id``. tracefs lives at ``/sys/kernel/tracing`` (or
``/sys/kernel/debug/tracing`` on older setups); when neither is mounted, :func:`tracefs_root`
mounts it at ``/sys/kernel/tracing`` (root only).
"""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path

from .abi import ffi, libc

CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def _looks_mounted(path: str) -> bool:
    return os.path.exists(os.path.join(path, "events"))


def _mount_tracefs(target: str) -> None:
    """``mount -t tracefs nodev <target>`` with mount(2)."""
    ret = libc.mount(b"nodev", target.encode(), b"tracefs", 0, ffi.NULL)
    if ret != 0:
        err = ffi.errno
        raise OSError(
            err,
            f"tracefs is not mounted and mounting it at {target} failed: {os.strerror(err)} "
            "(run as root, or mount it: mount -t tracefs nodev /sys/kernel/tracing)",
        )


@functools.cache
def tracefs_root() -> Path:
    """The tracefs mount point, mounting tracefs at ``/sys/kernel/tracing`` if needed."""
    for candidate in CANDIDATES:
        if _looks_mounted(candidate):
            return Path(candidate)
    target = CANDIDATES[0]
    if not os.path.isdir(target):
        raise FileNotFoundError(errno.ENOENT, f"no tracefs: {target} does not exist")
    _mount_tracefs(target)
    if not _looks_mounted(target):  # pragma: no cover - a kernel without tracing
        raise FileNotFoundError(errno.ENOENT, f"tracefs at {target} has no events directory")
    return Path(target)


def split_tracepoint(category_name: str) -> tuple[str, str]:
    """Split ``"sched:sched_switch"`` into ``("sched", "sched_switch")``; reject path tricks."""
    category, sep, name = category_name.partition(":")
    if not sep or not category or not name or "/" in category_name or ".." in category_name:
        raise ValueError(f"a tracepoint is named 'category:name', got {category_name!r}")
    return category, name


def tracepoint_id(category_name: str) -> int:
    """The perf ``config`` id of tracepoint ``"category:name"`` (e.g. ``"sched:sched_switch"``)."""
    category, name = split_tracepoint(category_name)
    path = tracefs_root() / "events" / category / name / "id"
    try:
        return int(path.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            errno.ENOENT,
            f"no tracepoint {category_name!r} ({path} does not exist; "
            f"see {tracefs_root() / 'available_events'})",
        ) from exc


def tracepoints(category: str | None = None) -> list[str]:
    """The ``"category:name"`` of every tracepoint (or those of ``category``), sorted."""
    events = tracefs_root() / "events"
    categories = [events / category] if category else [p for p in events.iterdir() if p.is_dir()]
    found = []
    for cat in categories:
        for entry in cat.iterdir():
            if (entry / "id").exists():
                found.append(f"{cat.name}:{entry.name}")
    return sorted(found)
