"""The vdso: symbolized from the process's own image (or ours, when it cannot be read)."""

from __future__ import annotations

import ctypes
import os

from profiler.process.maps import read_maps
from profiler.symbolize import Symbolizer
from tests.support import skip_or_fail

from .native_programs import running


def _own_vdso_function() -> tuple[str, int]:
    """A vdso function of this process and its address, found by the dynamic linker (oracle)."""
    try:
        vdso = ctypes.CDLL("linux-vdso.so.1", mode=os.RTLD_NOLOAD)
    except OSError:
        skip_or_fail("the dynamic linker does not expose the vdso here")
    for name in ("__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time"):
        try:
            return name, ctypes.cast(getattr(vdso, name), ctypes.c_void_p).value
        except AttributeError:
            continue
    skip_or_fail("no known vdso function")


def _vdso_start(pid: int | str) -> int:
    return next(m.start for m in read_maps(pid) if m.path == "[vdso]")


def _is_name_of(function: str, name: str) -> bool:
    # The vdso defines each function twice (clock_gettime and __vdso_clock_gettime).
    return function.removeprefix("__vdso_") == name.removeprefix("__vdso_")


def test_vdso_function_of_this_process(no_fd_leak):
    name, addr = _own_vdso_function()
    with Symbolizer() as sym:
        (frame,) = sym.user_frames(os.getpid(), addr + 4)
    assert _is_name_of(frame.function, name)
    assert frame.module_path == "[vdso]"
    assert frame.module.build_id  # the kernel builds its vdso with a build id


def test_vdso_of_an_exited_child(debug_program, no_fd_leak):
    name, addr = _own_vdso_function()
    offset = addr - _vdso_start("self")  # one image per kernel: same offset in every process
    with running(debug_program["full"]) as prog, Symbolizer() as sym:
        child_addr = _vdso_start(prog.pid) + offset
        assert sym.snapshot(prog.pid)
        prog.finish()
        (frame,) = sym.user_frames(prog.pid, child_addr)
    assert _is_name_of(frame.function, name)
    assert frame.module_path == "[vdso]"
