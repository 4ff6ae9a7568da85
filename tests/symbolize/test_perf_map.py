"""JIT frames from perf maps: parsing, and a real anonymous executable mapping of this process."""

from __future__ import annotations

import ctypes
import mmap
import os

import pytest

from profiler.frames.model import JIT, UNKNOWN
from profiler.process.files import RootedFile
from profiler.symbolize import Symbolizer
from profiler.symbolize.perf_map import PerfMap, perf_map_sources


def test_parse_perf_map_lines():
    perf_map = PerfMap.parse(
        "7f0000001000 40 LazyCompile:*fib /app/fib.js:3\n"
        "0x7f0000002000 0x10 py::main:/app/x.py\n"
        "not a line\n"
        "7f0000003000 zz broken\n"
        "7f0000001000 20 recompiled fib\n"  # a later entry at the same start wins
    )
    assert len(perf_map) == 2
    assert perf_map.lookup(0x7F0000001010) == ("recompiled fib", 0x7F0000001000)
    assert perf_map.lookup(0x7F0000001020) is None  # past the (new) size
    assert perf_map.lookup(0x7F000000200F) == ("py::main:/app/x.py", 0x7F0000002000)
    assert perf_map.lookup(0x7F0000002010) is None
    assert perf_map.lookup(0x1000) is None


def test_perf_map_sources_use_the_namespace_pid_inside_the_root():
    sources = perf_map_sources(4242, namespace_pid=7)
    assert sources == [RootedFile(4242, "/tmp/perf-7.map"), RootedFile(4242, "/tmp/perf-4242.map")]


@pytest.fixture
def jit_region():
    """An anonymous executable mapping in this process, like a JIT's code cache."""
    region = mmap.mmap(
        -1, 2 * mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    )
    buffer = ctypes.c_char.from_buffer(region)
    try:
        yield ctypes.addressof(buffer)
    finally:
        del buffer
        region.close()


def test_jit_frame_from_this_processs_perf_map(jit_region, no_fd_leak):
    path = f"/tmp/perf-{os.getpid()}.map"
    assert not os.path.exists(path), f"{path} exists already"
    try:
        with open(path, "w") as f:
            f.write(f"{jit_region:x} 100 jitted_hot_loop\n")
        # refresh_interval=0: re-read a changed perf map on every miss (normally at most 1/s).
        with Symbolizer(refresh_interval=0) as sym:
            (frame,) = sym.user_frames(os.getpid(), jit_region + 0x20)
            assert (frame.function, frame.kind) == ("jitted_hot_loop", JIT)
            assert frame.module_path == "[jit]"
            assert frame.module.start <= jit_region < frame.module.limit
            # The JIT compiles more code: the map grows and is read again.
            with open(path, "a") as f:
                f.write(f"{jit_region + 0x200:x} 80 jitted_later\n")
            (frame,) = sym.user_frames(os.getpid(), jit_region + 0x210)
            assert frame.function == "jitted_later"
            assert sym.stats.jit_frames == 2
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_unknown_jit_address_is_asked_again_once_the_map_has_it(jit_region, no_fd_leak):
    path = f"/tmp/perf-{os.getpid()}.map"
    assert not os.path.exists(path), f"{path} exists already"
    try:
        with Symbolizer(refresh_interval=0) as sym:
            (before,) = sym.user_frames(os.getpid(), jit_region + 8)
            assert before.kind == UNKNOWN
            with open(path, "w") as f:  # the JIT writes its map after the code ran
                f.write(f"{jit_region:x} 40 late_entry\n")
            (after,) = sym.user_frames(os.getpid(), jit_region + 8)
            assert (after.function, after.kind) == ("late_entry", JIT)
    finally:
        if os.path.exists(path):
            os.unlink(path)
