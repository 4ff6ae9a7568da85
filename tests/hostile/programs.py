"""Programs the hostile-input tests run: one that executes code from anonymous memory (as a JIT
does, so the profiler looks for its perf map), built static so it also runs in a bare chroot."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

from tests.support import require_tool

ANON_CODE_C = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    /* "jmp ." : a loop that runs in an anonymous executable mapping, like JIT code. */
    unsigned char loop[] = {0xeb, 0xfe};
    unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                               -1, 0);
    memcpy(code, loop, sizeof loop);
    mprotect(code, 4096, PROT_READ | PROT_EXEC);
    printf("%p\n", (void *)code);
    fflush(stdout);
    ((void (*)(void))code)();
    return 0;
}
"""


def build_anon_code(directory: Path) -> Path:
    """The static ``anon_code`` binary in ``directory``."""
    gcc = require_tool("gcc")
    src, exe = directory / "anon_code.c", directory / "anon_code"
    if not exe.exists():
        src.write_text(ANON_CODE_C)
        subprocess.run([gcc, "-O1", "-static", "-o", str(exe), str(src)], check=True)
    return exe


@contextmanager
def running_anon_code(argv: list[str]):
    """Start ``argv`` (an anon_code binary, maybe under chroot); yields ``(process, address)``."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        address = int(proc.stdout.readline(), 16)
        yield proc, address
    finally:
        proc.kill()
        proc.wait()
