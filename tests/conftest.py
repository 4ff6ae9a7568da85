"""Shared test fixtures: privilege gating (skip outside CI, fail under CI=true) and leak checks."""

from __future__ import annotations

import os
import shutil

import pytest

from .support import open_fds, require_root


@pytest.fixture
def no_fd_leak():
    """Fail the test if it leaves file descriptors open."""
    before = open_fds()
    yield
    leaked = open_fds() - before
    details = {
        fd: os.readlink(f"/proc/self/fd/{fd}")
        for fd in leaked
        if os.path.exists(f"/proc/self/fd/{fd}")
    }
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
                held.append(f"{kind} id={obj.get('id')} name={obj.get('name')}")
    return held


@pytest.fixture(scope="session", autouse=True)
def _no_bpf_objects_left_behind():
    """After the whole session, this process must hold no BPF program or map."""
    yield
    import gc

    gc.collect()
    held = bpf_objects_held_by(os.getpid())
    assert not held, f"BPF objects left open after the test session: {held}"
