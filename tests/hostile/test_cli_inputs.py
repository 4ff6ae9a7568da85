"""What the command line is given by a careless or hostile user (issue 14, rows 4, 5, 7, 8).

Bad arguments get one clear line before anything is loaded; our own files are written through
an exclusive temp file (never a predictable name a user can plant a symlink at); a signal at any
moment of start-up exits cleanly; a high rate still stops when asked.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import require_root, require_tool, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT}


def profiler(*args: str, timeout: float = 60, cwd: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "profiler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=cwd,
    )


def one_clear_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "warning: not root" not in ln]
    assert "Traceback" not in res.stderr, res.stderr
    assert len(lines) == 1 and lines[0].startswith("profiler: "), res.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--freq", "0"], "frequency"),
        (["--freq", "-5"], "frequency"),
        (["--freq", "100000"], "frequency"),  # row 5: accepted before, and wedged the run
        (["--duration", "-1"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["--stack-copy-size", "3"], "stack copy size"),
        (["--stack-copy-size", "3000"], "power of two"),
        (["--max-stack-depth", "500"], "stack depth"),
        (["--pid", "0"], "pid"),
        (["--pid", str(2**22 + 4321)], "no process"),
        (["-o", "/nonexistent/dir/x.pb.gz"], "cannot write"),
        (["-o", "out.json"], "output format"),
        (["--cgroup", "/no/such/cgroup"], "cgroup"),
    ],
)
def test_bad_arguments_get_one_line_before_anything_is_loaded(args, says, tmp_path):
    started = time.monotonic()
    duration = [] if "--duration" in args else ["-d", "1"]
    res = profiler(*args, *duration, cwd=str(tmp_path))
    assert res.returncode == 2, res.stderr
    assert says in one_clear_line(res)
    assert time.monotonic() - started < 20  # refused at once, not after a profile
    assert os.listdir(tmp_path) == []  # and no file (nor temp file) was left


def test_a_zombie_or_a_kernel_thread_is_refused(tmp_path):
    zombie = subprocess.Popen(["true"])
    wait_for(lambda: open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")
    try:
        assert "zombie" in one_clear_line(profiler("--pid", str(zombie.pid), "-d", "1"))
    finally:
        zombie.wait()
    kthreadd = 2  # the kernel's thread creator, a kernel thread on every Linux
    assert "kernel thread" in one_clear_line(profiler("--pid", str(kthreadd), "-d", "1"))


def test_a_read_only_output_fails_before_sampling(tmp_path):
    require_root()  # root ignores mode bits: the directory is made read-only by a mount
    mount = require_tool("mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], check=True)
    try:
        res = profiler("-d", "1", "-o", str(ro / "x.pb.gz"))
    finally:
        subprocess.run(["umount", str(ro)], check=False)
    assert res.returncode == 2
    assert "cannot write" in one_clear_line(res)


def test_an_immutable_output_file_fails_before_sampling(tmp_path):
    require_root()
    chattr = require_tool("chattr")
    out = tmp_path / "x.pb.gz"
    out.write_bytes(b"old")
    if subprocess.run([chattr, "+i", str(out)], capture_output=True).returncode != 0:
        pytest.fail("chattr +i failed on the test's file system", pytrace=False)
    try:
        res = profiler("-d", "1", "-o", str(out))
    finally:
        subprocess.run([chattr, "-i", str(out)], check=False)
    assert res.returncode == 2
    assert "cannot write" in one_clear_line(res)
    assert out.read_bytes() == b"old"


def test_symlinks_at_predictable_temp_names_do_not_redirect_our_writes(tmp_path, request):
    # Row 4: a user who can write in the output directory plants symlinks where a predictable
    # temp name would be (`out.pb.gz.tmp<PID>` for the next pids) pointing at root's file.
    require_root()
    # nobody's directory, where root writes a profile (the test's own tmp_path is root-only).
    out_dir = Path(tempfile.mkdtemp(prefix="pureprof-shared-"))
    out_dir.chmod(0o755)
    os.chown(out_dir, 65534, 65534)
    request.addfinalizer(lambda: shutil.rmtree(out_dir, ignore_errors=True))
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's secret")
    victim.chmod(0o600)
    last = int(open("/proc/sys/kernel/ns_last_pid").read())
    names = [f"out.pb.gz.tmp{pid}" for pid in range(last + 1, last + 300)]
    plant = 'cd "$1" && shift && target="$1" && shift && for n; do ln -s "$target" "$n"; done'
    subprocess.run(
        ["sh", "-c", plant, "sh", str(out_dir), str(victim), *names], check=True, user=65534
    )
    res = profiler("-d", "1", "-q", "-o", str(out_dir / "out.pb.gz"))
    assert res.returncode == 0, res.stderr
    assert victim.read_bytes() == b"root's secret"
    assert gzip.decompress((out_dir / "out.pb.gz").read_bytes())  # a real profile was written
    planted = {p.name for p in out_dir.iterdir() if p.is_symlink()}
    assert planted == set(names)  # untouched; and no temp file of ours left behind
    assert {p.name for p in out_dir.iterdir()} == planted | {"out.pb.gz"}


def test_the_agent_status_file_is_not_written_through_a_planted_link(tmp_path):
    require_root()
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's secret")
    status = tmp_path / "status.json"
    os.symlink(victim, str(status) + ".tmp")  # the old predictable temp name
    agent = ["agent", "--duration", "2", "--interval", "1", "--status-file", str(status)]
    res = subprocess.run(
        [sys.executable, "-m", "profiler", *agent],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert res.returncode == 0, res.stderr
    assert victim.read_bytes() == b"root's secret"
    assert b'"interval"' in status.read_bytes()


def handles(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its status's SigCgt mask)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
    return bool(caught & (1 << (sig - 1)))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after", [0.0, 0.1, 0.3, 0.6])
def test_a_signal_during_start_up_exits_cleanly(sig, after, tmp_path):
    # Row 7: before, a KeyboardInterrupt traceback or a silent death, and no profile. The
    # handlers are installed before our first import; from then on any moment is clean (before
    # it, the interpreter itself is starting: nothing of ours runs yet).
    require_root()
    out = tmp_path / "p.pb.gz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler", "-d", "30", "-q", "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    # Python catches SIGINT itself from its start; SIGTERM is caught only once ours are in.
    wait_for(lambda: handles(proc.pid, signal.SIGTERM), what="our signal handlers")
    time.sleep(after)  # the moment of start-up the signal lands in (what is tested)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode in (0, 128 + 2), stderr
    if proc.returncode == 0:
        assert gzip.decompress(out.read_bytes())  # what was collected is written
    else:
        assert "nothing written" in stderr and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "p.pb.gz"] == []  # no temp file


def test_the_highest_rate_still_stops_when_asked(tmp_path):
    # Row 5: at a rate that floods the maps, a stop finishes (events disabled before the final
    # drain, drains bounded) and SIGTERM is heard.
    require_root()
    burn = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "profiler", "-F", "10000", "-q", "-o", str(tmp_path / "p.gz")],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        time.sleep(3)  # let it sample at full rate for a while (what is tested)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert time.monotonic() - stopped_at < 20
    finally:
        burn.kill()
        burn.wait()
