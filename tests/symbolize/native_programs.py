"""Build and run the small C programs the symbolizer tests use (gcc, binutils as the oracles)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_tool

# A program with a few functions of different kinds (global, static, aligned so gaps follow
# them), that prints their runtime addresses, then waits for a line on stdin before exiting.
PROGRAM_C = r"""
#include <stdio.h>
#include <unistd.h>

volatile int sink;

__attribute__((noinline)) int alpha(int x) {
    for (int i = 0; i < x; i++) sink += i * 3;
    return sink;
}

__attribute__((noinline, aligned(64))) int beta(int x) {
    for (int i = 0; i < x; i++) sink ^= i + 7;
    return sink;
}

__attribute__((noinline)) static int gamma_local(int x) {
    for (int i = 0; i < x; i++) sink -= i;
    return sink + 1;
}

#ifdef WITH_SHARED
int shared_fn(int x);
#endif

int main(void) {
    printf("alpha %p\n", (void *)alpha);
    printf("beta %p\n", (void *)beta);
    printf("gamma_local %p\n", (void *)gamma_local);
#ifdef WITH_SHARED
    printf("shared_fn %p\n", (void *)shared_fn);
#endif
    printf("ready\n");
    fflush(stdout);
    char c;
    if (read(0, &c, 1) < 0) return 1;
    return alpha(3) + beta(3) + gamma_local(3)
#ifdef WITH_SHARED
        + shared_fn(2)
#endif
        ;
}
"""

SHARED_C = r"""
volatile int shared_sink;

__attribute__((noinline)) int shared_fn(int x) {
    for (int i = 0; i < x; i++) shared_sink += i * 5;
    return shared_sink;
}
"""


def compile_c(source: str, out: Path, *flags: str) -> Path:
    """Compile ``source`` with gcc into ``out``; raise with gcc's output if that fails."""
    gcc = require_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    # Flags go after the source so that libraries (-l) resolve its references.
    done = subprocess.run([gcc, str(src), "-o", str(out), *flags], capture_output=True, text=True)
    assert done.returncode == 0, f"gcc {' '.join(flags)} failed:\n{done.stderr}"
    return out


def nm_symbols(path: Path, dynamic: bool = False) -> dict[str, tuple[int, int]]:
    """``name -> (address, size)`` of defined text symbols, as binutils' ``nm -S`` reports them."""
    nm = require_tool("nm")
    args = [nm, "-S", "--defined-only"] + (["-D"] if dynamic else []) + [str(path)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            symbols[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return symbols


def run_tool(*args: str) -> str:
    """Run a binutils tool (the oracle); return its stdout."""
    require_tool(args[0])
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout


@dataclass
class Running:
    """A started test program: its process and the function addresses it printed."""

    process: subprocess.Popen
    addresses: dict[str, int]

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def finish(self) -> None:
        """Let the program exit and reap it."""
        if self.process.poll() is None:
            self.process.stdin.write(b"x")
            self.process.stdin.flush()
        self.process.wait(timeout=10)


@contextmanager
def running(binary: Path, env: dict[str, str] | None = None) -> Iterator[Running]:
    """Start ``binary``, read the addresses it prints, stop it (and close its pipes) on exit."""
    process = subprocess.Popen(
        [str(binary)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        addresses = {}
        for raw in process.stdout:
            line = raw.decode().strip()
            if line == "ready":
                break
            name, value = line.split()
            addresses[name] = int(value, 16)
        yield Running(process, addresses)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdin.close()
        process.stdout.close()


def copy_binary(src: Path, dest_dir: Path) -> Path:
    """Copy an executable into ``dest_dir`` (a fresh file, so a fresh inode)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    shutil.copy2(src, dest)
    return dest
