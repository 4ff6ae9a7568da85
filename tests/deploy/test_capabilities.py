"""The DaemonSet's capability set is enough: the agent and what it reads, run with exactly the
capabilities deploy/kubernetes/daemonset.yaml grants (setpriv limits the bounding set, as a
container runtime does for a root container)."""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest

from .capabilities import daemonset_capabilities, with_capabilities
from .manifests import ROOT

# Run under the reduced capabilities: what the agent needs to read on the node.
_CHECK = r"""
import json, os, sys
pid = int(sys.argv[1])
out = {}
with open("/proc/kallsyms") as f:
    out["kallsyms_addresses"] = any(int(line.split()[0], 16) for line, _ in zip(f, range(1000)))
try:
    out["proc_root"] = bool(os.listdir(f"/proc/{pid}/root/"))
except OSError as e:
    out["proc_root"] = e.strerror
try:
    with open(f"/proc/{pid}/maps") as f:
        out["proc_maps"] = bool(f.read())
except OSError as e:
    out["proc_maps"] = e.strerror
print(json.dumps(out))
"""


def check_reads(caps: list[str]) -> dict:
    # The target is this test process: root with every capability, like most host daemons.
    out = with_capabilities(caps, [sys.executable, "-c", _CHECK, str(os.getpid())])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.bpf
def test_daemonset_capabilities_read_what_the_agent_needs():
    result = check_reads(daemonset_capabilities())
    assert result == {"kallsyms_addresses": True, "proc_root": True, "proc_maps": True}


@pytest.mark.bpf
def test_without_sys_ptrace_the_roots_of_other_processes_are_closed():
    # The control that makes the test above mean something: setpriv does drop capabilities, and
    # CAP_SYS_PTRACE is what opens /proc/PID/root (binaries of containers) of a process that
    # holds capabilities the agent lacks.
    caps = [c for c in daemonset_capabilities() if c != "SYS_PTRACE"]
    assert check_reads(caps)["proc_root"] is not True


@pytest.mark.bpf
def test_agent_samples_and_names_kernel_frames_with_the_daemonset_capabilities(tmp_path):
    import subprocess

    from pprof_encoder.decode import parse

    # A process in the kernel most of the time, so a quiet machine has kernel frames to name.
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time\nt = time.time()\nwhile time.time() - t < 8: os.stat('/')",
        ]
    )
    try:
        out = with_capabilities(
            daemonset_capabilities(),
            [
                sys.executable,
                "-m",
                "profiler",
                "agent",
                "--interval",
                "1",
                "--duration",
                "2",
                "--output-dir",
                str(tmp_path),
            ],
            cwd=ROOT,
        )
    finally:
        busy.kill()
        busy.wait()
    assert out.returncode == 0, out.stderr
    assert "kptr_restrict" not in out.stderr, out.stderr
    named_kernel_frames = 0
    for path in glob.glob(str(tmp_path / "*.pb.gz")):
        with open(path, "rb") as f:
            profile = parse(f.read())
        for loc in profile.locations:
            if loc.mapping is not None and "kernel" in loc.mapping.filename and loc.lines:
                named_kernel_frames += not loc.lines[0].function.name.startswith(("[", "0x"))
    assert named_kernel_frames > 0, out.stderr
