"""The process tree and process states from ``/proc``: children, zombies, kernel threads."""

from __future__ import annotations

import os

PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


def _stat_fields(pid: int | str, proc: str = "/proc") -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or ``None``."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The comm may contain spaces and parentheses: the state follows the last ')'.
    return stat[stat.rfind(b")") + 2 :].split()


def process_state(pid: int, proc: str = "/proc") -> str | None:
    """Why ``pid`` cannot be profiled by pid, or ``None`` when it can: ``"gone"``, ``"zombie"``
    (it exited; its parent has not reaped it) or ``"kernel thread"`` (no user space)."""
    fields = _stat_fields(pid, proc)
    if fields is None or not fields:
        return "gone"
    if fields[0] in (b"Z", b"X"):
        return "zombie"
    try:
        flags = int(fields[6])
    except (IndexError, ValueError):
        return None
    return "kernel thread" if flags & PF_KTHREAD else None


def descendants(pids: list[int] | tuple[int, ...], proc: str = "/proc") -> list[int]:
    """All processes whose ancestry includes one of ``pids`` (children followed)."""
    parents: dict[int, int] = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry, proc)
        if fields is None or len(fields) < 2:
            continue
        try:
            parents[int(entry)] = int(fields[1])
        except ValueError:
            continue
    roots = set(pids)
    found = []
    for pid in parents:
        p, seen = pid, 0
        while p > 1 and seen < 64:
            p = parents.get(p, 0)
            seen += 1
            if p in roots:
                found.append(pid)
                break
    return found
