"""Shared test fixtures: privilege gating (skip outside CI, fail under CI=true) and leak checks."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a developer machine; fail under CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    """Require root (BPF programs, perf events); skip outside CI, fail under CI."""
    if os.geteuid() != 0:
        skip_or_fail("needs root (CAP_BPF + CAP_PERFMON) to load BPF programs and open perf events")


def require_tool(name: str) -> str:
    """Require an external program (an oracle such as bpftool or go); returns its path."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"needs the {name!r} program (installed by .ci/run)")
    return path


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture
def no_fd_leak():
    """Fail the test if it leaves file descriptors open."""
    before = open_fds()
    yield
    leaked = open_fds() - before
    details = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked if os.path.exists(
        f"/proc/self/fd/{fd}")}
    assert not details, f"file descriptors leaked: {details}"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``bpf`` need root: gate them once here."""
    for item in items:
        if item.get_closest_marker("bpf"):
            item.fixturenames.insert(0, "_bpf_privileges")


@pytest.fixture
def _bpf_privileges():
    require_root()


def bpf_objects_held_by(pid: int) -> list[str]:
    """BPF programs and maps that ``pid`` still holds, as bpftool reports them."""
    import json
    import subprocess

    bpftool = shutil.which("bpftool")
    if bpftool is None or os.geteuid() != 0:
        return []
    held = []
    for kind in ("prog", "map"):
        out = subprocess.run([bpftool, "-j", kind, "show"], capture_output=True, text=True)
        if out.returncode != 0 or not out.stdout.strip():
            continue
        for obj in json.loads(out.stdout):
            if any(p.get("pid") == pid for p in obj.get("pids", [])):
                held.append(f"{kind} id={obj.get('id')} name={obj.get('name')} type={obj.get('type')}")
    return held


@pytest.fixture(scope="session", autouse=True)
def _no_bpf_objects_left_behind():
    """After the whole session, this process must hold no BPF program or map."""
    yield
    import gc

    gc.collect()
    held = bpf_objects_held_by(os.getpid())
    assert not held, f"BPF objects left open after the test session: {held}"
