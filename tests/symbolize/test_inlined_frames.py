"""Inlined frames from DWARF come out innermost first, as addr2line -i reports them."""

from __future__ import annotations

from profiler.frames.model import USER
from profiler.symbolize import Symbolizer

from .native_programs import compile_c, nm_symbols, run_tool, running

INLINING_C = r"""
#include <stdio.h>
#include <unistd.h>

volatile int sink;

static inline __attribute__((always_inline)) int inner(int x) {
    int s = 0;
    for (int i = 0; i < x; i++)
        s += i * sink;
    return s;
}

__attribute__((noinline)) int outer(int x) {
    return inner(x) + 1;
}

int main(void) {
    printf("outer %p\n", (void *)outer);
    printf("ready\n");
    fflush(stdout);
    char c;
    if (read(0, &c, 1) < 0) return 1;
    return outer(3);
}
"""


def _addr2line_chain(binary, vaddr) -> list[tuple[str, int]]:
    """(function, line) innermost first, from addr2line -f -i."""
    out = run_tool("addr2line", "-f", "-i", "-e", str(binary), f"0x{vaddr:x}").splitlines()
    chain = []
    for function, location in zip(out[0::2], out[1::2], strict=True):
        line = location.rsplit(":", 1)[1].split()[0]
        chain.append((function, int(line) if line.isdigit() else 0))
    return chain


def test_inlined_function_frames_match_addr2line(build_dir, no_fd_leak):
    binary = compile_c(INLINING_C, build_dir / "inlining", "-O2", "-g")
    start, size = nm_symbols(binary)["outer"]
    # An address of outer where addr2line sees inner inlined (the oracle picks the address).
    inlined_at = next(
        (v for v in range(start, start + size) if len(_addr2line_chain(binary, v)) == 2), None
    )
    assert inlined_at is not None, "gcc did not inline inner into outer"
    chain = _addr2line_chain(binary, inlined_at)
    with running(binary) as prog, Symbolizer() as sym:
        frames = sym.user_frames(prog.pid, prog.addresses["outer"] + (inlined_at - start))
    assert [(f.function, f.line) for f in frames] == chain
    assert [f.inlined for f in frames] == [True, False]
    assert all(f.kind == USER and f.file.endswith("inlining.c") for f in frames)
