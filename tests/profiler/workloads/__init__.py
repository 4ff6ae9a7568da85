"""C workloads with known call trees, compiled by the tests (gcc) into a temporary directory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(tempfile.gettempdir(), "pureprof-workloads")


def build(name: str, *flags: str, compiler: str = "gcc", suffix: str = ".c") -> str:
    """Compile ``workloads/<name><suffix>`` with ``compiler`` and ``flags`` (cached by source
    and flags): gcc for C, rustc for Rust."""
    source = os.path.join(HERE, f"{name}{suffix}")
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read() + " ".join(flags).encode()).hexdigest()[:16]
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, f"{name}-{digest}")
    if not os.path.exists(out):
        tmp = f"{out}.tmp{os.getpid()}"
        subprocess.run([compiler, *flags, "-o", tmp, source], check=True)
        os.replace(tmp, out)
    return out


@dataclass
class Running:
    """A started workload: its process and pid (it prints the pid first)."""

    proc: subprocess.Popen
    pid: int

    def result(self, timeout: float = 30) -> dict:
        """Wait for the workload to end; return the JSON it printed last (its truth)."""
        out, _ = self.proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def go(self) -> None:
        """Let a workload started with ``wait=True`` begin its run."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start(binary: str, *args: str, wait: bool = False) -> Running:
    """Start ``binary``; returns once it printed its pid (``wait``: it then waits for go())."""
    argv = [binary, *args, "wait"] if wait else [binary, *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    return Running(proc, pid)
