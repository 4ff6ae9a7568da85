"""What /proc tells about a sampled process: names, executable, cgroup, container and pod.

Read once per process (and once per thread for thread names) and kept after the process exits,
so a target that exits mid-profile keeps its labels.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# Container ids in cgroup paths: docker-<64hex>.scope, cri-containerd-<64hex>.scope,
# crio-<64hex>.scope, libpod-<64hex>.scope, or a bare /docker/<64hex> / .../<64hex> component.
_CONTAINER_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)")
# Kubernetes pod uids: kubepods-burstable-pod1234_5678.slice (systemd driver, '_' for '-') or
# /kubepods/burstable/pod1234-5678/ (cgroupfs driver).
_POD_UID = re.compile(r"pod([0-9a-f]{8}(?:[-_][0-9a-f]{4}){3}[-_][0-9a-f]{12})")


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Identity of one process, as far as /proc reveals it."""

    pid: int
    name: str  # the process's comm (main thread name)
    executable: str = ""  # /proc/PID/exe target, "" for kernel threads or when hidden
    cmdline: tuple[str, ...] = ()
    cgroup: str = ""  # the cgroup v2 path (or the first v1 path)
    container_id: str = ""
    pod_uid: str = ""
    uid: int = -1  # the real uid (perf maps must belong to it or to root)
    namespace_pid: int = 0  # its pid inside its own PID namespace (NSpid), 0 if unknown


def container_id_from_cgroup(path: str) -> str:
    """Extract a container id (64 hex digits) from a cgroup path, or ""."""
    match = _CONTAINER_ID.search(path)
    return match.group(1) if match else ""


def pod_uid_from_cgroup(path: str) -> str:
    """Extract a Kubernetes pod uid from a cgroup path (normalised to dashes), or ""."""
    match = _POD_UID.search(path)
    return match.group(1).replace("_", "-") if match else ""


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def cgroup_of(pid: int, proc: str = "/proc") -> str:
    """The cgroup path of ``pid``: the v2 entry (``0::/path``) if present, else the first one."""
    first = ""
    for line in _read(f"{proc}/{pid}/cgroup").splitlines():
        hierarchy, _, rest = line.partition(":")
        _controllers, _, path = rest.partition(":")
        if hierarchy == "0":
            return path
        first = first or path
    return first


def read_process_info(pid: int, proc: str = "/proc") -> ProcessInfo | None:
    """Read what /proc knows of ``pid``; None when the process is gone."""
    name = _read(f"{proc}/{pid}/comm").rstrip("\n")
    if not name:
        return None
    try:
        exe = os.readlink(f"{proc}/{pid}/exe")
    except OSError:
        exe = ""
    cmdline = tuple(a for a in _read(f"{proc}/{pid}/cmdline").split("\0") if a)
    cgroup = cgroup_of(pid, proc)
    uid, nspid = _ids_from_status(_read(f"{proc}/{pid}/status"))
    return ProcessInfo(
        pid=pid,
        name=name,
        executable=exe,
        cmdline=cmdline,
        cgroup=cgroup,
        container_id=container_id_from_cgroup(cgroup),
        pod_uid=pod_uid_from_cgroup(cgroup),
        uid=uid,
        namespace_pid=nspid,
    )


def _ids_from_status(status: str) -> tuple[int, int]:
    """The real uid and the innermost-namespace pid from the text of ``/proc/PID/status``."""
    uid, nspid = -1, 0
    for line in status.splitlines():
        try:
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("NSpid:"):
                nspid = int(line.split()[-1])
        except (ValueError, IndexError):
            continue
    return uid, nspid


def thread_name(pid: int, tid: int, proc: str = "/proc") -> str:
    """The name of thread ``tid`` of ``pid`` ("" when it is gone)."""
    return _read(f"{proc}/{pid}/task/{tid}/comm").rstrip("\n")
