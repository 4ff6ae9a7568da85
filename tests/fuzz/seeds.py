"""Seed inputs for the fuzz tests: real binaries built by the test tool chain, and real images.

Every seed is something a profiled target could hand us: executables and libraries from gcc
(C, C++, DWARF 4 and 5, CFI in ``.eh_frame`` or only in ``.debug_frame``, a shared library,
compressed DWARF), rustc (a release build: rust-lld's layout; and one with DWARF), the Go tool
chain (``.gopclntab``, compressed ``.debug_frame``), a MiniDebugInfo binary (xz in
``.gnu_debugdata``), this machine's vdso image, its kernel notes, and a perf map whose lines are
libc's real symbols.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from profiler.elf.file import ElfFile
from profiler.elf.symbols import iter_symbols
from profiler.process.vdso import own_vdso_image
from tests.dwarf_async.builds import build_c_program, build_cpp_program
from tests.support import require_tool
from tests.symbolize.native_programs import PROGRAM_C, SHARED_C, compile_c, run_tool
from tests.unwind.workload_build import build_c, build_rust

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"

RUST_WITH_DWARF = """\
#[inline(never)]
fn crunch(x: u64) -> u64 {
    (0..x).fold(7u64, |acc, i| acc.wrapping_mul(31).wrapping_add(std::hint::black_box(i)))
}

fn main() {
    println!("{}", crunch(std::env::args().count() as u64 * 1000));
}
"""

GO_PROGRAM = """\
package main

import "fmt"

//go:noinline
func crunch(n int) int {
	acc := 7
	for i := 0; i < n; i++ {
		acc = acc*31 + i
	}
	return acc
}

func main() { fmt.Println(crunch(1000)) }
"""


@dataclass
class Seeds:
    """The seed binaries and images, by name (``elf``: path -> bytes of every ELF seed)."""

    elf: dict[str, bytes] = field(default_factory=dict)
    vdso: bytes = b""
    kernel_notes: bytes = b""
    perf_map: str = ""

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Seeds({sorted(self.elf)}, vdso, kernel_notes, perf_map)"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # hypothesis' pretty printer
        printer.text(repr(self))

    def with_section(self, name: str) -> dict[str, bytes]:
        """The ELF seeds that have a non-empty section ``name``."""
        out = {}
        for key, image in self.elf.items():
            elf = ElfFile.from_bytes(image, key)
            section = elf.section(name)
            if section is not None and section.size and section.type != 8:  # 8: SHT_NOBITS
                out[key] = image
        return out


def _rustc(source: str, out: Path, *flags: str) -> Path:
    rustc = require_tool("rustc")
    src = out.with_suffix(".rs")
    src.write_text(source)
    subprocess.run([rustc, *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def _go(out_dir: Path) -> Path:
    go = require_tool("go")
    (out_dir / "prog.go").write_text(GO_PROGRAM)
    env = {**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"}
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(out_dir / "gocache")
    out = out_dir / "go_prog"
    subprocess.run(
        [go, "build", "-o", str(out), str(out_dir / "prog.go")],
        check=True,
        capture_output=True,
        env=env,
    )
    return out


def _mini_debuginfo(full: Path, out_dir: Path) -> Path:
    """GDB's MiniDebugInfo recipe: the function symbols .dynsym lacks, xz'd into .gnu_debugdata."""
    xz = require_tool("xz")
    binary = out_dir / "mini"
    binary.write_bytes(full.read_bytes())
    functions = {
        line.split()[0]
        for line in run_tool("nm", "--format=posix", "--defined-only", str(full)).splitlines()
        if line.split()[1] in ("T", "t")
    }
    keep = out_dir / "keep_symbols"
    keep.write_text("\n".join(sorted(functions)) + "\n")
    debug, mini = out_dir / "mini.debug", out_dir / "mini_debuginfo"
    run_tool("objcopy", "--only-keep-debug", str(binary), str(debug))
    run_tool("objcopy", "-S", f"--keep-symbols={keep}", str(debug), str(mini))
    run_tool("strip", "--strip-all", str(binary))
    subprocess.run([xz, "-f", str(mini)], check=True)
    run_tool("objcopy", f"--add-section=.gnu_debugdata={mini}.xz", str(binary))
    return binary


def _perf_map_of(path: str, limit: int = 400) -> str:
    """A perf map whose entries are ``path``'s real function symbols (names of real length)."""
    lines = []
    with ElfFile.open(path) as elf:
        table = elf.section(".dynsym")
        for sym in iter_symbols(elf, table) if table is not None else ():
            if sym.type == 2 and sym.value and sym.name:  # STT_FUNC
                lines.append(f"{0x7F0000000000 + sym.value:x} {sym.size:x} {sym.name}")
            if len(lines) >= limit:
                break
    return "\n".join(lines) + "\n"


def build_seeds(out: Path) -> Seeds:
    """Build every seed into ``out`` (one session's worth)."""
    seeds = Seeds()
    paths = {
        "c_dwarf5": Path(build_c_program(out, 5)),
        "c_dwarf4": Path(build_c_program(out, 4)),
        "cpp": Path(build_cpp_program(out)),
        "c_debug_frame": build_c(out, "debug_frame"),
        "libshared": compile_c(SHARED_C, out / "libshared.so", "-O2", "-g", "-fPIC", "-shared"),
        "c_gz_dwarf": compile_c(PROGRAM_C, out / "gz", "-O2", "-g", "-gz=zlib"),
        "rust_release": build_rust(out),
        "rust_dwarf": _rustc(RUST_WITH_DWARF, out / "rust_dwarf", "-O", "-g"),
        "go": _go(out),
    }
    paths["mini_debuginfo"] = _mini_debuginfo(paths["c_dwarf5"], out)
    seeds.elf = {name: Path(path).read_bytes() for name, path in paths.items()}
    seeds.vdso = own_vdso_image() or b""
    with open("/sys/kernel/notes", "rb") as f:
        seeds.kernel_notes = f.read()
    seeds.perf_map = _perf_map_of(LIBC)
    return seeds
