"""Files of a target are opened as the target would see them, and no further (issue 14, rows 2-3).

A root profiler reads perf maps and binaries that unprivileged users and containers control.
Each test is one thing such a user did; before the process layer (profiler/process/files.py)
the profiler hung, ran out of memory, or read a host file as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import tracemalloc

import pytest

from profiler.frames.model import JIT, UNKNOWN
from profiler.process.files import TargetRoot, UnsafeFileError
from profiler.symbolize import Symbolizer
from profiler.symbolize.debug_files import DebugFileFinder
from tests.support import require_root, require_tool

from .programs import build_anon_code, running_anon_code

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def anon_code(tmp_path_factory):
    return build_anon_code(tmp_path_factory.mktemp("hostile"))


def frames_within(sym: Symbolizer, pid: int, address: int, seconds: float = 10.0):
    """``sym.user_frames`` on a thread: a hang fails the test instead of hanging it."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(sym.user_frames(pid, address)))
    worker.daemon = True
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"symbolizing pid {pid} hung for {seconds} s"
    return result[0]


def test_a_fifo_as_perf_map_does_not_hang(anon_code):
    require_root()
    with running_anon_code([str(anon_code)]) as (proc, address):
        perf_map = f"/tmp/perf-{proc.pid}.map"
        os.mkfifo(perf_map)
        try:
            with Symbolizer() as sym:
                (frame,) = frames_within(sym, proc.pid, address)
        finally:
            os.unlink(perf_map)
    assert frame.kind == UNKNOWN  # no JIT name, and no hang on the FIFO


def test_a_link_to_dev_zero_as_perf_map_is_refused_without_reading(anon_code):
    require_root()
    with running_anon_code([str(anon_code)]) as (proc, address):
        perf_map = f"/tmp/perf-{proc.pid}.map"
        os.symlink("/dev/zero", perf_map)
        tracemalloc.start()
        try:
            with Symbolizer() as sym:
                (frame,) = frames_within(sym, proc.pid, address)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            os.unlink(perf_map)
    assert frame.kind == UNKNOWN
    assert peak < 16 << 20  # before: it read /dev/zero until MemoryError (1 GB+)


def test_a_perf_map_of_another_user_is_ignored_and_one_of_root_is_read(anon_code):
    require_root()
    with running_anon_code([str(anon_code)]) as (proc, address):
        perf_map = f"/tmp/perf-{proc.pid}.map"
        with open(perf_map, "w") as f:
            f.write(f"{address:x} 100 jitted_by_someone\n")
        try:
            os.chown(perf_map, 65534, 65534)  # nobody's file, for a root process: perf's rule
            with Symbolizer(refresh_interval=0) as sym:
                (frame,) = frames_within(sym, proc.pid, address)
                assert frame.kind == UNKNOWN
                os.chown(perf_map, 0, 0)  # the process's own user (root) wrote it: read it
                (frame,) = frames_within(sym, proc.pid, address)
                assert (frame.kind, frame.function) == (JIT, "jitted_by_someone")
        finally:
            os.unlink(perf_map)


@pytest.fixture
def chroot_with_anon_code(anon_code, tmp_path):
    """A bare root directory holding the static program, as a container's root would."""
    require_root()
    root = tmp_path / "container-root"
    (root / "tmp").mkdir(parents=True)
    (root / "bin").mkdir()
    shutil.copy(anon_code, root / "bin" / "anon_code")
    return root


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_a_container_perf_map_linked_to_a_host_file_is_not_read(
    chroot_with_anon_code, tmp_path, link
):
    chroot = require_tool("chroot")
    root = chroot_with_anon_code
    secret_dir = tmp_path / "host-only"
    secret_dir.mkdir()
    secret = secret_dir / "secret.map"
    with running_anon_code([chroot, str(root), "/bin/anon_code"]) as (proc, address):
        # A perf map naming the program's code lies on the host, outside the container's root.
        secret.write_text(f"{address:x} 100 HOST_FILE_READ_AS_ROOT\n")
        target = str(secret) if link == "absolute" else "../" * 40 + str(secret).lstrip("/")
        os.symlink(target, root / "tmp" / f"perf-{proc.pid}.map")
        with Symbolizer(refresh_interval=0) as sym:
            (frame,) = frames_within(sym, proc.pid, address)
    assert frame.function != "HOST_FILE_READ_AS_ROOT"
    assert frame.kind == UNKNOWN


def test_the_same_perf_map_inside_the_container_is_read(chroot_with_anon_code):
    chroot = require_tool("chroot")
    root = chroot_with_anon_code
    with running_anon_code([chroot, str(root), "/bin/anon_code"]) as (proc, address):
        (root / "tmp" / f"perf-{proc.pid}.map").write_text(f"{address:x} 100 jitted_inside\n")
        with Symbolizer(refresh_interval=0) as sym:
            (frame,) = frames_within(sym, proc.pid, address)
    assert (frame.kind, frame.function) == (JIT, "jitted_inside")


def test_target_root_clamps_links_and_dotdot_with_and_without_openat2(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "inside").write_text("inside")
    outside = tmp_path / "outside"
    outside.write_text("outside")
    (root / "abs").symlink_to(str(outside))  # absolute: would name the host file
    (root / "rel").symlink_to("../../../../../../" + str(outside).lstrip("/"))
    (root / "to_inside").symlink_to("/etc/inside")  # absolute, resolved inside the root
    (root / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(root / "fifo")
    for use_openat2 in (True, False):
        with TargetRoot.of_directory(str(root), use_openat2=use_openat2) as target:
            for name in ("abs", "rel", "../outside", "etc/../../outside"):
                with pytest.raises(OSError) as err:
                    os.close(target.open(name))
                assert not isinstance(err.value, UnsafeFileError) or "outside" not in str(err)
            fd = target.open("to_inside")
            try:
                assert os.read(fd, 100) == b"inside"
            finally:
                os.close(fd)
            with pytest.raises(UnsafeFileError):
                target.open("fifo")  # and it did not block
            with pytest.raises(UnsafeFileError):
                target.open("etc/inside", max_size=3)


def test_a_debuglink_naming_a_path_is_not_a_candidate():
    finder = DebugFileFinder(["/usr/lib/debug"])
    for hostile in ("../../../../etc/shadow", "sub/x.debug", "..", "/etc/shadow"):
        candidates = list(finder.candidates("/usr/lib/app/libx.so", "", (hostile, 0), pid=1))
        assert candidates == [], hostile
    safe = [c.label for c in finder.candidates("/usr/lib/app/../app/libx.so", "", ("x.dbg", 0), 1)]
    assert safe == [
        "/usr/lib/app/x.dbg",
        "/usr/lib/app/.debug/x.dbg",
        "/usr/lib/debug/usr/lib/app/x.dbg",
    ]
    # A build id is hex or nothing: no path made of it.
    assert list(finder.candidates("/bin/x", "../../etc", None)) == []


def test_whole_machine_profile_finishes_with_a_fifo_perf_map(anon_code, tmp_path):
    require_root()
    with running_anon_code([str(anon_code)]) as (proc, _address):
        perf_map = f"/tmp/perf-{proc.pid}.map"
        os.mkfifo(perf_map)
        try:
            out = str(tmp_path / "p.pb.gz")
            res = subprocess.run(
                [sys.executable, "-m", "profiler", "-d", "2", "-q", "-o", out],
                capture_output=True,
                text=True,
                timeout=90,
                env={**os.environ, "PYTHONPATH": ROOT},
            )
        finally:
            os.unlink(perf_map)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "p.pb.gz").stat().st_size > 0
