"""C workloads of the off-CPU tests and benchmark, compiled by the tests (gcc) into their own
temporary directory: a known-blocking one (blocking.c), a ping-pong (pingpong.c), a yielder."""

from __future__ import annotations

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
FRAME_POINTERS = ("-O2", "-g", "-fno-omit-frame-pointer")
NO_FRAME_POINTERS = ("-O2", "-g", "-fomit-frame-pointer")


def build(name: str, out_dir: str, *flags: str) -> str:
    """Compile ``workloads/<name>.c`` with ``flags`` into ``out_dir``; return the binary's path.

    ``out_dir`` is the caller's own (a pytest tmp_path), so the name needs no uniqueness.
    """
    out = os.path.join(out_dir, f"{name}{'-fp' if '-fno-omit-frame-pointer' in flags else ''}")
    source = os.path.join(HERE, f"{name}.c")
    subprocess.run(["gcc", *flags, "-pthread", "-o", out, source], check=True)
    return out
