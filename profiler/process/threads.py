"""A process's threads as the kernel numbers them: ids inside its PID namespace -> host ids.

A runtime inside a container knows its threads by the ids of its own PID namespace; the kernel
(and BPF's ``bpf_get_current_pid_tgid``) by the host's. ``NSpid`` in
``/proc/PID/task/TID/status`` holds both; it is read only for a process in another PID
namespace than ours (elsewhere the two are one).
"""

from __future__ import annotations

import os


def host_thread_ids(pid: int, proc: str = "/proc") -> dict[int, int]:
    """``namespace tid -> host tid`` for the threads of ``pid`` (empty when it is gone)."""
    try:
        tids = [int(t) for t in os.listdir(f"{proc}/{pid}/task") if t.isdigit()]
    except OSError:
        return {}
    if not in_other_pid_namespace(pid, proc):
        return {tid: tid for tid in tids}
    out = {}
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"NSpid:"):
                        out[int(line.split()[-1])] = tid
                        break
        except (OSError, ValueError, IndexError):
            continue
    return out


def in_other_pid_namespace(pid: int, proc: str = "/proc") -> bool:
    """Whether ``pid`` lives in another PID namespace than this process (False if unknown)."""
    try:
        return os.readlink(f"{proc}/{pid}/ns/pid") != os.readlink(f"{proc}/self/ns/pid")
    except OSError:
        return False


def task_links(pid: int, proc: str = "/proc") -> int:
    """The link count of ``/proc/PID/task`` (it follows the number of threads: one ``stat``,
    for a cheap "did the threads change?"); -1 when the process is gone."""
    try:
        return os.stat(f"{proc}/{pid}/task").st_nlink
    except OSError:
        return -1
