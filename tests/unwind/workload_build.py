"""Build and run the snapshot workloads (tests and benchmarks share these)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import require_tool

WORKLOADS = Path(__file__).parent / "workloads"

# gcc flag sets: the subject (no frame pointers), the control (frame pointers), a build without
# any CFI for its own code (the unwinder must fall back to the frame-pointer chain), and one
# whose CFI is only in .debug_frame.
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


def build_c(out_dir: Path, variant: str) -> Path:
    """Compile calltree.c with one of :data:`C_VARIANTS`; returns the executable."""
    gcc = require_tool("gcc")
    exe = out_dir / f"calltree_{variant}"
    cmd = [gcc, *C_VARIANTS[variant], "-pthread", "-o", str(exe), str(WORKLOADS / "calltree.c")]
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def build_rust(out_dir: Path) -> Path:
    """Compile deep.rs as a release build without frame pointers; returns the executable."""
    rustc = require_tool("rustc")
    exe = out_dir / "deep"
    cmd = [rustc, "-C", "opt-level=3", "-C", "force-frame-pointers=no", "-C", "debuginfo=0"]
    subprocess.run(
        [*cmd, "-o", str(exe), str(WORKLOADS / "deep.rs")], check=True, capture_output=True
    )
    return exe


def take_snapshots(exe: Path, out_dir: Path, *args: str) -> Path:
    """Run a workload that writes its snapshots into ``out_dir``; returns ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(exe), str(out_dir), *args], check=True, capture_output=True, timeout=60)
    return out_dir
