"""``record -- CMD`` on the real kernel: the command is sampled from its first instruction,
its children are followed, its exit status is ours, and Ctrl-C and SIGTERM are handled as the
help says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from profiler.cli.record_command import GRACE_S
from tests.profiler import workloads
from tests.profiler.profiles import load
from tests.profiler.test_profile_live import check_calltree_profile
from tests.support import require_tool

pytestmark = pytest.mark.bpf

# A command that says when it runs and when a signal reached it (CLOCK_MONOTONIC is one clock
# for every process), then exits with 7 on SIGINT and dies of SIGTERM (143).
SIGNAL_REPORTER = (
    "import os, signal, sys, time\n"
    "def got(signum, frame):\n"
    "    print('signal', signum, time.monotonic(), flush=True)\n"
    "    if signum == signal.SIGINT:\n"
    "        sys.exit(7)\n"
    "    signal.signal(signum, signal.SIG_DFL)\n"
    "    os.kill(os.getpid(), signum)\n"
    "signal.signal(signal.SIGINT, got)\n"
    "signal.signal(signal.SIGTERM, got)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    sum(range(2000)); time.sleep(0.001)\n"
)


@pytest.fixture(scope="module")
def calltree() -> str:
    require_tool("gcc")
    return workloads.build("calltree", "-O2", "-fno-omit-frame-pointer")


def record(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "profiler", "record", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_record_profiles_the_whole_run_and_exits_with_its_status(tmp_path, calltree):
    out = tmp_path / "r.pb.gz"
    res = record("-F", "997", "-o", str(out), "--", calltree, "6")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    pid = int(lines[0])  # the workload prints its pid, then its truth as JSON
    truth = json.loads(next(line for line in lines if line.startswith("{")))
    # Sampling ran from the exec: all its CPU time is there, with complete stacks.
    check_calltree_profile(str(out), pid, truth, 997, min_complete=0.99)
    profile = load(str(out))
    assert f'pureprof.title.command: "{calltree} 6"' in profile.comments
    assert "[.] leaf_two" in res.stdout and f"go tool pprof -http=: {out}" in res.stdout


def test_non_zero_exit_status_and_children_followed(tmp_path, calltree):
    out = tmp_path / "r.folded"
    # sh is the command; the workload is its child (forked after sampling started).
    res = record("-F", "499", "-q", "-o", str(out), "--", "sh", "-c", '"$0" 1.5; exit 7', calltree)
    assert res.returncode == 7, res.stderr
    lines = out.read_text().splitlines()
    child = [line for line in lines if line.startswith("calltree")]
    assert any(";leaf_two " in line for line in child), lines[:5]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in child) > 0.5 * 1.5 * 499 * 0.3


def test_death_by_signal_is_128_plus_n(tmp_path):
    res = record("-q", "-o", str(tmp_path / "k.folded"), "--", "sh", "-c", "kill -TERM $$")
    assert res.returncode == 128 + signal.SIGTERM, res.stderr
    assert (tmp_path / "k.folded").exists()


def start_recording(tmp_path) -> tuple[subprocess.Popen, str]:
    """record -- SIGNAL_REPORTER in its own session; returns once the command runs."""
    out = str(tmp_path / "s.pb.gz")
    argv = [sys.executable, "-m", "profiler", "record", "-F", "199", "-q", "-o", out, "--"]
    proc = subprocess.Popen(
        [*argv, sys.executable, "-c", SIGNAL_REPORTER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a shell job has
    )
    assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    return proc, out


def signal_delay(proc: subprocess.Popen, sent_at: float) -> tuple[int, float]:
    """Wait for record to exit: its status, and how long after ``sent_at`` the command got a
    signal."""
    try:
        # Through the buffered reader "ready" was read with (communicate reads the pipe
        # itself and would miss what that reader holds).
        out = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    words = out.split()
    assert words[:1] == ["signal"], (out, err)
    return proc.returncode, float(words[2]) - sent_at


def test_ctrl_c_at_the_terminal_reaches_the_command_and_the_profile_is_written(tmp_path):
    proc, out = start_recording(tmp_path)
    time.sleep(0.5)  # some samples
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    rc, delay = signal_delay(proc, sent)
    assert rc == 7
    assert delay < 1.0  # from the terminal, at once; nothing passed on
    assert load(out).total(0) > 0


def test_sigint_to_the_profiler_alone_is_passed_on_after_the_grace(tmp_path):
    proc, out = start_recording(tmp_path)
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    rc, delay = signal_delay(proc, sent)
    assert rc == 7
    assert GRACE_S - 0.1 <= delay < GRACE_S + 2.0
    assert load(out).total(0) > 0


def test_sigterm_is_passed_on_at_once_and_a_second_ctrl_c_kills(tmp_path):
    proc, out = start_recording(tmp_path)
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    rc, delay = signal_delay(proc, sent)
    assert rc == 128 + signal.SIGTERM and delay < 1.0
    assert os.path.exists(out)
    # A command that ignores SIGINT: the second Ctrl-C kills it.
    stubborn = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + (
        "print('ready', flush=True)\nwhile True: time.sleep(0.01)\n"
    )
    argv = [sys.executable, "-m", "profiler", "record", "-q", "-o", out, "--"]
    proc = subprocess.Popen(
        [*argv, sys.executable, "-c", stubborn],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout.readline() == "ready\n"
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr.read()
