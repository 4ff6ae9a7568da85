"""Fixtures of the viewer tests: a real profile of a workload with a known call tree, a headless
Chromium, and a localhost web server for speedscope."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from pprof_encoder import parse
from tests.conftest import bpf_objects_held_by
from tests.profiler import workloads
from tests.support import require_root, require_tool

from .cdp import Browser
from .tools import chromium

WORKLOAD_SECONDS = "2"


@dataclass
class LiveProfile:
    """The profiler's pprof of the call-tree workload, and what the workload said of itself."""

    path: str
    profile: object  # pprof_encoder.profile.Profile
    pid: int
    binary: str
    truth: dict


def _wait_until_sampling(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(h.startswith("prog ") for h in bpf_objects_held_by(pid)):
            time.sleep(0.2)  # the attach follows the load by a few syscalls
            return
        time.sleep(0.05)
    raise AssertionError(f"the profiler (pid {pid}) never loaded its BPF program")


@pytest.fixture(scope="package")
def calltree_profile(tmp_path_factory) -> LiveProfile:
    """``python -m profiler --pid`` at 997 Hz over the call-tree workload's whole run (2 s)."""
    require_root()
    require_tool("gcc")
    binary = workloads.build("calltree", "-O2", "-fno-omit-frame-pointer")
    out = str(tmp_path_factory.mktemp("live") / "calltree.pb.gz")
    work = workloads.start(binary, WORKLOAD_SECONDS, wait=True)
    argv = [sys.executable, "-m", "profiler", "--pid", str(work.pid), "-F", "997", "-o", out, "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_sampling(proc.pid)
        work.go()
        truth = work.result(timeout=60)
        proc.send_signal(signal.SIGINT)  # the workload is done: write what was collected
        _, err = proc.communicate(timeout=60)
    finally:
        work.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    with open(out, "rb") as f:
        profile = parse(f.read())
    # The whole run is in it (the bound test_profile_live uses): the viewers see a real profile.
    samples = profile.total(profile.sample_index("samples"))
    assert samples >= 0.85 * truth["cpu_seconds"] * 997, (samples, truth)
    return LiveProfile(out, profile, work.pid, binary, truth)


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the package's tests (each test opens its own tab)."""
    with Browser(chromium()) as b:
        yield b


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@dataclass
class WebServer:
    """A localhost server of one directory: ``url(name)`` for a file put there."""

    root: str
    port: int

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def add(self, path: str, name: str | None = None) -> str:
        """Copy a file into the served directory; returns its URL."""
        name = name or os.path.basename(path)
        shutil.copyfile(path, os.path.join(self.root, name))
        return self.url(name)


@pytest.fixture(scope="package")
def web_server(tmp_path_factory):
    """Serves a fresh directory on 127.0.0.1 (an ephemeral port) from a thread."""
    root = str(tmp_path_factory.mktemp("www"))
    handler = functools.partial(_QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebServer(root, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
