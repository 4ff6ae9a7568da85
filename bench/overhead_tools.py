"""The profilers the overhead benchmark runs: their command lines, their ready signals, and how
the samples of the workload are counted in what each wrote.

Ready signals (the end of "launch → sampling"), each the honest one for that tool:

- **ours**: it holds a perf-event BPF program and at least one BPF link per CPU. It opens one
  cpu-clock event per CPU, links the program to it and enables it at once (strace: the enable
  follows each link within microseconds), so the last link is the start of sampling.
- **perf record**: its main thread is blocked in ``poll`` on its event fds. perf opens its events
  disabled, writes the header and (``-a``) synthesizes every process's maps, then enables the
  events (``PERF_EVENT_IOC_ENABLE``) and only then enters its record loop, whose first call is
  ``poll`` (strace: ~0.1 ms after the enable; its side-band thread polls other fds, but that is
  not the main thread). perf.data growing is no signal: the header is written before sampling,
  samples only at a ring-buffer watermark.
- **bpftrace**: it holds its perf-event program and its main thread is in ``epoll_wait``: it
  attaches and enables the ``profile`` probe on every CPU, then polls its output buffers.

Read from /proc every 5 ms (``overhead_run.READY_POLL_S``): launch times have that resolution.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

from tests.profiler.profiles import load

from . import proc_watch
from .overhead_run import Tool

LEAVES = ("leaf_one", "leaf_two", "leaf_three")


def ours_is_sampling(pid: int) -> bool:
    """Our profiler holds its sampling program, linked to one perf event per CPU."""
    held = proc_watch.bpf_fds(pid)
    return bool(proc_watch.sampling_programs(held)) and proc_watch.links(held) >= (
        os.cpu_count() or 1
    )


def perf_is_sampling(pid: int) -> bool:
    """perf record's main thread has entered its record loop (after enabling its events)."""
    return proc_watch.in_event_loop(pid, "poll")


def bpftrace_is_sampling(pid: int) -> bool:
    """bpftrace holds its profile program and its main thread polls its output buffers."""
    return proc_watch.in_event_loop(pid, "epoll_wait") and bool(
        proc_watch.sampling_programs(proc_watch.bpf_fds(pid))
    )


def pprof_samples(path: str, pids: list[int]) -> int:
    """Samples of ``pids`` whose stack names one of the workload's leaf functions."""
    if not os.path.exists(path):
        return 0
    profile = load(path)
    idx = next(i for i, vt in enumerate(profile.sample_type) if vt.type == "samples")
    wanted = set(pids)
    total = 0
    for sample in profile.samples:
        if not any(lb.key == "pid" and lb.num in wanted for lb in sample.labels):
            continue
        names = {line.function.name for loc in sample.locations for line in loc.lines}
        if names.intersection(LEAVES):
            total += sample.values[idx]
    return total


# perf script's sample header: "comm  PID[/TID] [CPU] SECONDS.MICROS: ..." (CPU with -a only).
_PERF_HEADER = re.compile(r"^\S.*?\s(\d+)(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:")


def perf_script_samples(path: str, pids: list[int]) -> int:
    """Samples of ``pids`` in ``perf script`` output whose call chain names a leaf function."""
    if not os.path.exists(path):
        return 0
    wanted = set(pids)
    total = 0
    current = None  # the pid of the sample being read, when it is one of ours
    found = False
    with open(path, errors="replace") as f:
        for line in f:
            header = _PERF_HEADER.match(line)
            if header:
                total += found
                current, found = int(header.group(1)) in wanted, False
            elif current and not found and any(leaf in line for leaf in LEAVES):
                found = True
    return total + found


# bpftrace's print of @[pid, kstack, ustack]: "@[PID, <kstack lines>, <ustack lines>]: COUNT".
_BPFTRACE_ENTRY = re.compile(r"^@\[(\d+),(.*?)\]: (\d+)$", re.S | re.M)


def bpftrace_samples(path: str, pids: list[int]) -> tuple[int, int]:
    """(samples of ``pids``, those of them whose user stack was symbolized to a leaf name)."""
    if not os.path.exists(path):
        return 0, 0
    with open(path, errors="replace") as f:
        text = f.read()
    wanted = set(pids)
    total = named = 0
    for entry in _BPFTRACE_ENTRY.finditer(text):
        if int(entry.group(1)) in wanted:
            count = int(entry.group(3))
            total += count
            if any(leaf in entry.group(2) for leaf in LEAVES):
                named += count
    return total, named


def ours(name: str, freq: int, out: str, by_pid: bool, *extra: str) -> Tool:
    """Our profiler: ``--pid`` runs end with the workload, whole-machine ones at SIGINT."""
    argv = [sys.executable, "-m", "profiler", "-q", "--freq", str(freq), "-o", out, *extra]
    if by_pid:
        argv += ["--pid", "{pid}"]
    return Tool(
        name,
        argv,
        ours_is_sampling,
        lambda pids: pprof_samples(out, pids),
        ends_with_target=by_pid,
    )


def perf(freq: int, workdir: str, by_pid: bool, dwarf: bool) -> Tool | None:
    """``perf record -e cpu-clock`` (``-g`` or ``--call-graph dwarf``), then ``perf script``
    into a file: what it takes perf to give a readable profile. None without perf."""
    exe = shutil.which("perf")
    if exe is None:
        return None
    data = os.path.join(workdir, "perf.data")
    script = os.path.join(workdir, "perf-script.txt")
    graph = ["--call-graph", "dwarf"] if dwarf else ["-g"]
    argv = [exe, "record", "-q", "-e", "cpu-clock", "-F", str(freq), *graph, "-o", data]
    argv += ["-p", "{pid}"] if by_pid else ["-a"]
    return Tool(
        "perf dwarf" if dwarf else "perf -g",
        argv,
        perf_is_sampling,
        lambda pids: perf_script_samples(script, pids),
        ends_with_target=by_pid,  # perf record -p ends when its target exits
        post=[exe, "script", "-i", data],
        post_stdout=script,
    )


def bpftrace(freq: int, workdir: str, by_pid: bool) -> Tool | None:
    """``bpftrace -e 'profile:hz:N { @[pid, kstack, ustack] = count(); }'`` (with a pid filter
    by pid), stopped by SIGINT; it prints its map at exit. None when bpftrace is not installed.

    bpftrace resolves user symbols when it prints, after the workload has exited: its user
    stacks of the workload stay addresses, and its CPU holds no user symbolization."""
    exe = shutil.which("bpftrace")
    if exe is None:
        return None
    out = os.path.join(workdir, "bpftrace.txt")
    where = " /pid == {pid}/" if by_pid else ""
    program = f"profile:hz:{freq}{where} {{ @[pid, kstack, ustack] = count(); }}"

    def describe(pids: list[int]) -> str:
        total, named = bpftrace_samples(out, pids)
        return (
            f"{named} of its {total} workload samples have user symbols (it resolves them "
            "when it prints, after the workload has exited)"
        )

    return Tool(
        "bpftrace",
        [exe, "-e", program],
        bpftrace_is_sampling,
        lambda pids: bpftrace_samples(out, pids)[0],
        stdout=out,
        describe=describe,
    )
