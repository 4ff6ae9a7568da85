"""The profile title: written into the pprof's comments, read back from the file."""

from __future__ import annotations

import shutil
import socket
import subprocess

from pprof_encoder import ProfileBuilder, parse
from profiler.output.title import COMMENT_PREFIX, ProfileTitle, describe_targets
from tests.support import require_tool


def titled_profile(title: ProfileTitle, extra_comments=()):
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        10_000_000,
        time_nanos=1_700_000_000_123_000_000,
        duration_nanos=4_500_000_000,
        comments=["pureprof: cpu-clock sampling at 99 Hz", *title.comments(), *extra_comments],
        default_sample_type="cpu",
    )
    b.add_sample(["main"], [1, 10_000_000])
    return b.build()


def test_the_title_survives_the_file():
    title = ProfileTitle(command="./server --port 8080 'a b'", pids=(42, 43), host="node-7")
    again = parse(titled_profile(title).encode())
    read = ProfileTitle.from_profile(again)
    assert read == ProfileTitle(
        command="./server --port 8080 'a b'",
        pids=(42, 43),
        host="node-7",
        start_time=1_700_000_000_123_000_000 / 1e9,
        duration=4.5,
        sample_type="cpu/nanoseconds",
    )
    assert ProfileTitle.from_profile(again, 0).sample_type == "samples/count"
    assert read.heading() == "./server --port 8080 'a b'"
    assert read.text() == (
        "./server --port 8080 'a b' — pids 42, 43 · host node-7 · duration 4.5 s · "
        "date 2023-11-14 22:13:20 UTC · sample type cpu/nanoseconds"
    )


def test_go_tool_pprof_shows_the_title_comments(tmp_path):
    go = require_tool("go")
    path = tmp_path / "t.pb.gz"
    titled_profile(ProfileTitle(command="./work 5", pids=(7,), host="h")).write(str(path))
    out = subprocess.run(
        [go, "tool", "pprof", "-comments", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert f'{COMMENT_PREFIX}command: "./work 5"' in out.stdout


def test_foreign_and_malformed_comments_are_ignored():
    hostile = [
        f"{COMMENT_PREFIX}command: not json",
        f'{COMMENT_PREFIX}pids: [1, "x", 2.5, 3]',
        f"{COMMENT_PREFIX}host: " + '"' + "h" * 100_000 + '"',
        f"{COMMENT_PREFIX}nonsense",
        "someone else's comment",
    ]
    read = ProfileTitle.from_profile(titled_profile(ProfileTitle(), hostile))
    assert read.command == ""
    assert read.pids == (1, 3)
    assert len(read.host) == 4096
    assert read.heading() == "pid 1, 3"


def test_describe_targets_reads_the_command_lines_while_they_run():
    sleeper = subprocess.Popen([shutil.which("sleep") or "/bin/sleep", "30"])
    try:
        title = describe_targets([sleeper.pid, sleeper.pid])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert title.command.endswith("sleep 30")
    assert title.pids == (sleeper.pid, sleeper.pid)
    assert title.host == socket.gethostname()
    assert describe_targets([]).heading() == "whole machine"
    assert describe_targets([], "/sys/fs/cgroup/app").heading() == "cgroup /sys/fs/cgroup/app"
