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
    """BPF programs, maps and links that ``pid`` holds open, from /proc/PID/fd and fdinfo.

    (Debian's bpftool has no pid column, so /proc is the source; bpftool only adds names.)
    """
    import json
    import subprocess

    held = []
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
            if not target.startswith("anon_inode:bpf"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        kind = target.split("bpf-", 1)[-1].rstrip("]")
        ident = (info.get("prog_id") or info.get("map_id") or info.get("link_id") or "?").strip()
        held.append(f"{kind} id={ident}")
    bpftool = shutil.which("bpftool")
    if held and bpftool:
        names = {}
        for kind in ("prog", "map"):
            out = subprocess.run([bpftool, "-j", kind, "show"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                for obj in json.loads(out.stdout):
                    names[f"{kind} id={obj.get('id')}"] = obj.get("name", "")
        held = [f"{h} name={names[h]}" if h in names else h for h in held]
    return held


@pytest.fixture(scope="session", autouse=True)
def _no_bpf_objects_left_behind():
    """After the whole session, this process must hold no BPF program or map."""
    yield
    import gc

    gc.collect()
    held = bpf_objects_held_by(os.getpid())
    assert not held, f"BPF objects left open after the test session: {held}"
