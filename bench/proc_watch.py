"""Watching a running profiler from outside, through /proc and the kernel's clocks.

What a benchmark needs to know about a tool it did not write, without slowing it down:

- which BPF programs and links it holds (``/proc/PID/fd`` and ``fdinfo``), and what each
  program has cost so far (``run_time_ns`` / ``run_cnt`` in fdinfo, counted while BPF run-time
  stats are on: ``kernel.bpf_stats_enabled=1`` or a held ``BPF_ENABLE_STATS`` fd);
- which system call its main thread is blocked in (``/proc/PID/syscall``): a tool that has
  finished setting up sits in its event loop (poll, epoll_wait);
- the CPU time of its processes in nanoseconds, from the process CPU-time clock
  (``clock_gettime`` on ``CPUCLOCK_SCHED`` of the pid). ``utime + stime`` in ``/proc/PID/stat``
  count in ticks of 10 ms, too coarse for a target of 0.05 % of a core (5 ms in 10 s); the clock
  counts every thread of the process, the exited ones included.

Every reader returns an empty or None result when the process is gone (it may exit at any time).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

BPF_PROG_TYPE_PERF_EVENT = 7

# System calls a tool's event loop blocks in, by machine (the numbers differ per architecture).
_EVENT_LOOP_SYSCALLS = {
    "x86_64": {"poll": {7, 271}, "epoll_wait": {232, 281, 441}},  # poll/ppoll, epoll_(p)wait(2)
    "aarch64": {"poll": {73}, "epoll_wait": {22, 441}},  # ppoll, epoll_pwait(2)
}


@dataclass(frozen=True)
class BpfFd:
    """One BPF object a process holds: its kind (prog, map, link) and its fdinfo fields."""

    kind: str
    info: dict[str, str]


def bpf_fds(pid: int) -> list[BpfFd]:
    """The BPF programs, maps and links that ``pid`` holds open (empty once it is gone)."""
    held = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            # "anon_inode:bpf-prog", "anon_inode:bpf-map", but "anon_inode:bpf_link".
            if not target.startswith(("anon_inode:bpf-", "anon_inode:bpf_")):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = {
                    k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in f if ":" in ln)
                }
        except OSError:
            continue  # closed between the listing and the read
        held.append(BpfFd(target[len("anon_inode:bpf-") :], info))
    return held


def sampling_programs(held: list[BpfFd]) -> dict[int, tuple[int, int]]:
    """``{prog_id: (run_time_ns, run_cnt)}`` of the perf-event programs among ``held``."""
    progs = {}
    for obj in held:
        if obj.kind == "prog" and obj.info.get("prog_type") == str(BPF_PROG_TYPE_PERF_EVENT):
            progs[int(obj.info["prog_id"])] = (
                int(obj.info.get("run_time_ns", 0)),
                int(obj.info.get("run_cnt", 0)),
            )
    return progs


def links(held: list[BpfFd]) -> int:
    """How many BPF links are among ``held``."""
    return sum(obj.kind == "link" for obj in held)


def main_thread_syscall(pid: int) -> int | None:
    """The system call ``pid``'s main thread is blocked in; None when it runs or is gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            first = f.read().split(maxsplit=1)
    except OSError:
        return None
    if not first or not first[0].lstrip("-").isdigit():
        return None  # "running"
    return int(first[0])


def in_event_loop(pid: int, loop: str) -> bool:
    """Whether ``pid``'s main thread is blocked in an event-loop call (``poll``/``epoll_wait``)."""
    numbers = _EVENT_LOOP_SYSCALLS.get(platform.machine(), {}).get(loop)
    if numbers is None:
        raise NotImplementedError(f"no {loop} syscall numbers for {platform.machine()}")
    return main_thread_syscall(pid) in numbers


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (from /proc/PID/task/*/children)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
    return tree


def cpu_ns(pid: int) -> int | None:
    """CPU time of process ``pid`` (all its threads) in ns; None once it is gone."""
    clock = ((~pid) << 3) | 2  # the kernel's process clock id: CPUCLOCK_SCHED of the pid
    try:
        return time.clock_gettime_ns(clock)
    except OSError:
        return None


def tree_cpu_ns(pids: list[int]) -> dict[int, int]:
    """``{pid: CPU ns}`` for those of ``pids`` that still exist."""
    out = {}
    for pid in pids:
        ns = cpu_ns(pid)
        if ns is not None:
            out[pid] = ns
    return out
