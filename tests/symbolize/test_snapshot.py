"""Snapshots: exited processes keep their symbols; deleted binaries; chroots; refreshed maps."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time

from profiler.frames.model import UNKNOWN
from profiler.symbolize import Symbolizer

from ..support import require_root, require_tool
from .native_programs import copy_binary, running


def test_exited_process_still_symbolizes(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["full"], tmp_path / "bin")
    with running(binary) as prog, Symbolizer() as sym:
        assert sym.snapshot(prog.pid)
        prog.finish()
        assert not os.path.exists(f"/proc/{prog.pid}")
        for name in ("alpha", "beta", "gamma_local"):
            assert sym.user_frames(prog.pid, prog.addresses[name] + 2)[-1].function == name
        assert prog.pid in sym.processes()
        sym.forget(prog.pid)
        assert prog.pid not in sym.processes()
        (frame,) = sym.user_frames(prog.pid, prog.addresses["alpha"])
        assert frame.kind == UNKNOWN


def test_exited_process_whose_binary_was_deleted(debug_program, tmp_path, no_fd_leak):
    require_root()  # /proc/PID/map_files needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE)
    binary = copy_binary(debug_program["full"], tmp_path / "bin")
    with running(binary) as prog, Symbolizer() as sym:
        binary.unlink()  # the maps now say "(deleted)"; only map_files still reaches the file
        assert sym.snapshot(prog.pid)
        prog.finish()
        frames = sym.user_frames(prog.pid, prog.addresses["beta"])
        assert frames[-1].function == "beta"
        assert frames[-1].module_path == str(binary)


def test_binary_only_in_another_mount_namespace_is_read_through_proc_pid_root(
    debug_program, tmp_path, no_fd_leak
):
    require_root()  # unshare(CLONE_NEWNS) and mount
    unshare = require_tool("unshare")
    mount_point = tmp_path / "container-fs"
    mount_point.mkdir()
    # Like a container: the program lives on a tmpfs mounted only in its own mount namespace, so
    # the path its maps show does not exist in ours.
    script = (
        f"mount -t tmpfs none {mount_point} && cp {debug_program['full']} {mount_point}/prog"
        f" && exec {mount_point}/prog"
    )
    process = subprocess.Popen(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        addresses = {}
        for raw in process.stdout:
            line = raw.decode().strip()
            if line == "ready":
                break
            name, value = line.split()
            addresses[name] = int(value, 16)
        assert addresses, "the program did not start in its mount namespace"
        assert not (mount_point / "prog").exists()
        with Symbolizer() as sym:
            frames = sym.user_frames(process.pid, addresses["alpha"])
            assert frames[-1].function == "alpha"
            assert frames[-1].module_path == f"{mount_point}/prog"
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdin.close()
        process.stdout.close()


def test_library_loaded_after_the_snapshot_is_found_by_refreshing(shared_program, no_fd_leak):
    library = shared_program.parent / "libshared.so"
    # The first miss after a snapshot re-reads the maps whatever the refresh interval (a
    # snapshot taken at exec has no libraries yet).
    with Symbolizer(refresh_interval=3600) as sym:
        assert sym.snapshot(os.getpid(), load_symbols=False)
        lib = ctypes.CDLL(str(library))  # mapped after the snapshot
        addr = ctypes.cast(lib.shared_fn, ctypes.c_void_p).value
        (frame,) = sym.user_frames(os.getpid(), addr)
        assert frame.function == "shared_fn"
        assert sym.stats.snapshot_refreshes == 1


def test_same_binary_in_two_processes_is_loaded_once(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["full"], tmp_path / "bin")
    with running(binary) as first, running(binary) as second, Symbolizer() as sym:
        assert sym.snapshot(first.pid) and sym.snapshot(second.pid)
        tables = sym.stats.symbol_tables
        for prog in (first, second):
            assert sym.user_frames(prog.pid, prog.addresses["beta"])[-1].function == "beta"
        assert sym.stats.symbol_tables == tables  # loaded by the first snapshot, shared by both


def _wait_until_zombie(pid: int) -> None:
    for _ in range(1000):
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} did not exit")


def test_snapshot_of_a_zombie_keeps_the_live_mappings(debug_program, tmp_path, no_fd_leak):
    binary = copy_binary(debug_program["full"], tmp_path / "bin")
    with running(binary) as prog, Symbolizer(refresh_interval=0) as sym:
        assert sym.snapshot(prog.pid)
        prog.process.stdin.write(b"x")
        prog.process.stdin.flush()
        _wait_until_zombie(prog.pid)  # exited, not reaped: /proc/PID/maps is empty now
        sym.snapshot(prog.pid)
        assert sym.user_frames(prog.pid, prog.addresses["alpha"])[-1].function == "alpha"
        # An address in no mapping does not replace the snapshot with the zombie's empty one.
        assert sym.user_frames(prog.pid, 8)[0].kind == UNKNOWN
        assert sym.user_frames(prog.pid, prog.addresses["beta"])[-1].function == "beta"


def test_same_build_at_another_path_is_read_from_there(debug_program, tmp_path, no_fd_leak):
    # Two copies of one build (one build id), e.g. the same image in two containers. The first
    # copy is gone before any symbol is needed: the second copy's path must be used.
    first = copy_binary(debug_program["full"], tmp_path / "first")
    second = copy_binary(debug_program["full"], tmp_path / "second")
    with running(first) as one, running(second) as two, Symbolizer() as sym:
        assert sym.snapshot(one.pid, load_symbols=False)
        one.finish()
        first.unlink()
        assert sym.snapshot(two.pid, load_symbols=False)
        assert sym.user_frames(two.pid, two.addresses["alpha"])[-1].function == "alpha"
        # The exited first process shares the build: its addresses are named too.
        assert sym.user_frames(one.pid, one.addresses["beta"])[-1].function == "beta"
