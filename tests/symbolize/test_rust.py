"""A Rust program: rustc's symbol mangling, and (recent rustc) the rust-lld layout."""

from __future__ import annotations

import subprocess

import pytest

from profiler.elf.file import PF_X, ElfFile
from profiler.frames.model import USER
from profiler.symbolize import Symbolizer

from ..support import require_tool
from .native_programs import nm_symbols, running

RUST_PROGRAM = """\
use std::io::Read;

#[inline(never)]
pub fn alpha(x: u64) -> u64 {
    let mut s = 0u64;
    for i in 0..x {
        s = s.wrapping_add(std::hint::black_box(i * 3));
    }
    s
}

fn main() {
    println!("alpha {:x}", alpha as fn(u64) -> u64 as usize);
    println!("ready");
    let mut buf = [0u8; 1];
    let _ = std::io::stdin().read(&mut buf);
    println!("{}", alpha(3));
}
"""


@pytest.fixture(scope="module")
def rust_binary(tmp_path_factory):
    rustc = require_tool("rustc")
    out = tmp_path_factory.mktemp("rust")
    (out / "prog.rs").write_text(RUST_PROGRAM)
    binary = out / "prog"
    done = subprocess.run(
        [rustc, "-O", str(out / "prog.rs"), "-o", str(binary)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return binary


def _demangler():
    try:
        from profiler.demangle import demangle
    except ImportError:
        return None
    return demangle


def test_rust_function(rust_binary, no_fd_leak):
    (mangled,) = [name for name in nm_symbols(rust_binary) if "5alpha" in name]
    _, size = nm_symbols(rust_binary)[mangled]
    with ElfFile.open(str(rust_binary)) as elf:
        layout = [(p.offset, p.vaddr) for p in elf.load_segments() if p.flags & PF_X]
    with running(rust_binary) as prog, Symbolizer() as sym:
        for addr in (prog.addresses["alpha"], prog.addresses["alpha"] + size - 1):
            (frame,) = sym.user_frames(prog.pid, addr)
            assert frame.kind == USER and frame.module_path == str(rust_binary)
            demangle = _demangler()
            # Demangled once profiler.demangle is there; the linkage name until then.
            assert frame.function == ("prog::alpha" if demangle else mangled), layout
