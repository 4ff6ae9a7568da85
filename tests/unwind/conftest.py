"""Fixtures: build the snapshot workloads (C with gcc, Rust with rustc) once per session and run
them, so every test unwinds real register + stack snapshots of a real process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import require_tool

WORKLOADS = Path(__file__).parent / "workloads"

# gcc flag sets: the subject (no frame pointers), the control (frame pointers), and a build
# without any CFI for its own code (the unwinder must fall back to the frame-pointer chain).
C_VARIANTS = {
    "omit_fp": ["-O2", "-fomit-frame-pointer"],
    "with_fp": ["-O2", "-fno-omit-frame-pointer"],
    "no_cfi": [
        "-O2",
        "-fno-omit-frame-pointer",
        "-fno-asynchronous-unwind-tables",
        "-fno-unwind-tables",
    ],
    "debug_frame": ["-O2", "-fomit-frame-pointer", "-g", "-fno-asynchronous-unwind-tables"],
}
RUST_ROUNDS = 12


def build_c(out_dir: Path, variant: str) -> Path:
    """Compile calltree.c with one of :data:`C_VARIANTS`; returns the executable."""
    gcc = require_tool("gcc")
    exe = out_dir / f"calltree_{variant}"
    cmd = [gcc, *C_VARIANTS[variant], "-pthread", "-o", str(exe), str(WORKLOADS / "calltree.c")]
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def run_workload(cmd: list[str], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([*cmd[:1], str(out_dir), *cmd[1:]], check=True, capture_output=True, timeout=60)
    return out_dir


@pytest.fixture(scope="session")
def c_snapshots(tmp_path_factory):
    """``variant -> (executable, snapshot directory)`` for every C variant."""
    base = tmp_path_factory.mktemp("unwind_c")
    result = {}
    for variant in C_VARIANTS:
        exe = build_c(base, variant)
        result[variant] = (exe, run_workload([str(exe)], base / f"snap_{variant}"))
    return result


@pytest.fixture(scope="session")
def rust_snapshots(tmp_path_factory):
    """``(executable, snapshot directory, count)`` of the Rust release workload."""
    rustc = require_tool("rustc")
    base = tmp_path_factory.mktemp("unwind_rust")
    exe = base / "deep"
    cmd = [rustc, "-C", "opt-level=3", "-C", "force-frame-pointers=no", "-C", "debuginfo=0"]
    subprocess.run(
        [*cmd, "-o", str(exe), str(WORKLOADS / "deep.rs")], check=True, capture_output=True
    )
    out = run_workload([str(exe), str(RUST_ROUNDS)], base / "snaps")
    count = len(list(out.glob("*.snap")))
    return exe, out, count
