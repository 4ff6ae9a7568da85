"""Spawn links live: uprobes on the Tokio test program, a sampler keyed with the spawn chain."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections import Counter

import pytest

from profiler.bpf import spawn_programs
from profiler.bpf.options import SamplingOptions
from profiler.bpf.sampler import Sampler
from profiler.bpf.spawn_tracker import SpawnTracker
from profiler.frames import apply_async_stacks
from profiler.frames.spawn_links import SPAWN_FUNCTION, SpawnLinker
from profiler.symbolize import Symbolizer
from pybpf.syscall import Kernel, use_kernel
from tests.dwarf_async.builds import build_tokio_app
from tests.support import thread_count, wait_for

pytestmark = pytest.mark.bpf


def logical_stacks(variant: str, seconds: float = 2.0) -> tuple[Counter, dict]:
    """Root-first logical stacks (names) of the Tokio app with spawn links, and tracker stats."""
    binary = build_tokio_app(variant)
    app = subprocess.Popen([binary, "8"], stdout=subprocess.DEVNULL)
    sym = Symbolizer()
    try:
        wait_for(lambda: thread_count(app.pid) > 1, what="the Tokio runtime's workers")
        with SpawnTracker(binary, [app.pid]) as tracker:
            with Sampler(
                SamplingOptions(freq=499, kernel_stacks=False, unwind="fp"),
                pids=[app.pid],
                spawn_current=tracker.current,
            ) as sampler:
                sym.snapshot(app.pid)
                time.sleep(seconds)
                samples = sampler.drain()
            stats = tracker.read_stats()
            linker = SpawnLinker(sym, tracker.spawn_stack)
            stacks: Counter = Counter()
            for s in samples:
                frames = []
                for i, addr in enumerate(s.user_stack):
                    frames.extend(sym.user_frames(s.pid, addr if i == 0 else addr - 1))
                logical = linker.link(apply_async_stacks(frames, s.comm), s.pid, s.spawn_chain)
                stacks[tuple(f.function for f in reversed(logical))] += s.count
    finally:
        app.kill()
        app.wait()
        sym.close()
    return stacks, stats


def share(stacks: Counter, leaf: str, path: tuple[str, ...]) -> tuple[float, int]:
    """Of the samples whose stack holds ``leaf``: the share whose logical path ends with ``path``
    right at ``leaf`` (root side checked up to the thread root), and their total."""
    total = good = 0
    for stack, count in stacks.items():
        if leaf not in stack:
            continue
        total += count
        at = stack.index(leaf)
        if stack[: at + 1][-len(path) :] == path and stack[0].startswith("tokio-runtime"):
            good += count
    return (good / total if total else 0.0), total


@pytest.mark.parametrize("variant", ["legacy_fp", "v0_fp_dwarf5"])
def test_background_is_linked_to_the_handler_that_spawned_it(variant, no_fd_leak):
    stacks, stats = logical_stacks(variant)
    assert stats["spawns"] > 0 and stats["spawn_stack_errors"] == 0
    path = (
        "tokio_app::main",
        SPAWN_FUNCTION,
        "tokio_app::handler",
        SPAWN_FUNCTION,
        "tokio_app::background",
        "tokio_app::crunch_more",
    )
    ratio, total = share(stacks, "tokio_app::crunch_more", path)
    assert total > 50, stacks.most_common(5)
    # Tasks spawned before the probes were attached have no link: a few at most.
    assert ratio >= 0.9, stacks.most_common(5)
    # The handler itself was spawned by main's block_on future (no task: chain of one).
    ratio, total = share(
        stacks,
        "tokio_app::crunch",
        (
            "tokio_app::main",
            SPAWN_FUNCTION,
            "tokio_app::handler",
            "tokio_app::compute",
            "tokio_app::crunch",
        ),
    )
    assert total > 100 and ratio >= 0.9, stacks.most_common(5)


def test_every_poll_of_a_task_spawned_under_the_probes_is_linked(no_fd_leak):
    _stacks, stats = logical_stacks("legacy_fp", seconds=1.0)
    # Polls of tasks spawned before attaching, and of the workers' blocking tasks, are not.
    assert stats["polls"] > 100
    assert stats["polls_linked"] / stats["polls"] > 0.9, stats


class _DenyUprobes(Kernel):
    """perf_event_open fails with EPERM after ``allow`` successful opens."""

    def __init__(self, allow: int):
        self.allow = allow

    def perf_event_open(self, attr, pid, cpu, group_fd, flags):
        if self.allow == 0:
            raise OSError(errno.EPERM, "perf_event_open: Operation not permitted")
        self.allow -= 1
        return super().perf_event_open(attr, pid, cpu, group_fd, flags)


class _DenyProgramLoad(Kernel):
    def bpf(self, cmd, attr, size):
        if cmd == 5:  # BPF_PROG_LOAD
            raise OSError(errno.EINVAL, "bpf(BPF_PROG_LOAD): Invalid argument")
        return super().bpf(cmd, attr, size)


@pytest.mark.parametrize("fake", [_DenyUprobes(0), _DenyUprobes(3), _DenyProgramLoad()])
def test_a_failed_start_closes_everything_it_opened(fake, no_fd_leak):
    binary = build_tokio_app("legacy_fp")
    with use_kernel(fake), pytest.raises(OSError):
        SpawnTracker(binary)
    # (the session-wide check in tests/conftest.py fails if a map or program is left open)


def test_programs_pass_the_verifier_on_both_register_layouts(no_fd_leak):
    from pybpf.maps import MapSpec, MapType
    from pybpf.programs import ProgramSpec, ProgramType

    p = spawn_programs
    with (
        MapSpec("t_stacks", MapType.STACK_TRACE, 4, 8 * 127, 16).create() as stacks,
        MapSpec("t_tasks", MapType.LRU_HASH, p.TASK_KEY_SIZE, p.LINK_SIZE, 64).create() as tasks,
        MapSpec("t_current", MapType.LRU_HASH, 4, p.LINK_SIZE, 64).create() as current,
        MapSpec("t_stats", MapType.PERCPU_ARRAY, 4, 8, p.N_STATS).create() as stats,
    ):
        for arch in p.PT_REGS_ARGS:
            for insns in (
                p.build_spawn_return(stacks, tasks, current, stats, arch),
                p.build_poll_enter(tasks, current, stats, arch),
                p.build_poll_exit(current),
            ):
                spec = ProgramSpec("t_spawn", ProgramType.KPROBE, insns, license="GPL")
                with spec.load() as prog:
                    assert os.readlink(f"/proc/self/fd/{prog.fd}") == "anon_inode:bpf-prog"


def test_one_tracker_for_several_processes_detaches_each(no_fd_leak):
    from tests.support import open_fds

    binary = build_tokio_app("legacy_fp")
    apps = [subprocess.Popen([binary, "5"], stdout=subprocess.DEVNULL) for _ in range(2)]
    try:
        with SpawnTracker() as tracker:
            before = len(open_fds())
            per_process = tracker.attach(binary, [apps[0].pid])
            assert per_process == 12  # 2 spawn copies + 5 poll copies x (entry, return)
            assert tracker.attach(binary, [apps[0].pid]) == 0  # already attached
            tracker.attach(binary, [apps[1].pid])
            # One perf event fd per probe, one BPF link fd each where links are used.
            assert len(open_fds()) - before in (2 * per_process, 4 * per_process)
            wait_for(lambda: tracker.read_stats()["spawns"] > 0, what="a spawn")
            tracker.detach(apps[0].pid)
            tracker.detach(apps[1].pid)
            assert len(open_fds()) == before
            spawns = tracker.read_stats()["spawns"]
            time.sleep(0.3)  # a window in which a probe left behind would fire (the app spawns
            assert tracker.read_stats()["spawns"] == spawns  # a task every few ms): none does
    finally:
        for app in apps:
            app.kill()
            app.wait()


@pytest.mark.parametrize("into_record", [False, True])
def test_the_sampler_lookup_copies_the_chain_of_the_thread(into_record, no_fd_leak):
    """emit_spawn_chain_lookup run with BPF_PROG_TEST_RUN (a socket filter: no probe needed)."""
    import struct

    from pybpf.asm import R0, R1, R2, R7, R9, R10, Assembler, W
    from pybpf.maps import MapSpec, MapType
    from pybpf.programs import ProgramSpec, ProgramType

    p = spawn_programs
    chain = (11, 7, -1, -1)
    with (
        MapSpec("t_current", MapType.HASH, 4, p.LINK_SIZE, 8).create() as current,
        MapSpec("t_out", MapType.ARRAY, 4, p.LINK_SIZE, 2).create() as out,
    ):
        current.update(struct.pack("<I", 4242), struct.pack("<4i", *chain))
        for slot, tid in enumerate((4242, 4243)):  # a thread with a chain, one without
            a = Assembler()
            a.ld_imm64(R7, (1000 << 32) | tid)  # what bpf_get_current_pid_tgid() would give
            a.st(W, R10, -4, slot)
            a.ld_map_fd(R1, out)
            a.mov(R2, R10)
            a.add(R2, -4)
            a.call("map_lookup_elem")
            a.jeq(R0, 0, "out")
            a.mov(R9, R0, comment="r9 = the output record")
            if into_record:
                p.emit_spawn_chain_lookup(a, current, 0, -8, R7, base=R9)
            else:
                p.emit_spawn_chain_lookup(a, current, -24, -8, R7)
                for level in range(p.SPAWN_DEPTH):
                    a.ldx(W, R1, R10, -24 + 4 * level)
                    a.stx(W, R9, 4 * level, R1)
            a.label("out")
            a.mov(R0, 0)
            a.exit()
            spec = ProgramSpec("t_chain", ProgramType.SOCKET_FILTER, a, license="GPL")
            with spec.load() as prog:
                prog.test_run(data_in=bytes(64))
        got = [struct.unpack("<4i", bytes(out.lookup(struct.pack("<I", s)))) for s in (0, 1)]
    assert got == [chain, (-1, -1, -1, -1)]
