"""PLT stubs are named ``function@plt``, as objdump names them."""

from __future__ import annotations

import re
import sys

import pytest

from profiler.elf.file import ElfFile
from profiler.elf.symbols import SymbolTable
from profiler.symbolize import Symbolizer
from profiler.symbolize.binary import _namer
from profiler.symbolize.plt import plt_table

from ..support import require_tool
from .native_programs import PROGRAM_C, compile_c, nm_symbols, run_tool, running

LAYOUTS = {
    "pie": ("-O2", "-fPIE", "-pie"),
    "no-pie": ("-O2", "-fno-pie", "-no-pie"),
    "lld": ("-O2", "-fPIE", "-pie", "-fuse-ld=lld"),
    "ibt": ("-O2", "-fPIE", "-pie", "-fcf-protection=full", "-Wl,-z,ibtplt"),
}


def _objdump_plt(path) -> dict[int, str]:
    out = run_tool("objdump", "-d", str(path))
    return {int(m[1], 16): m[2] for m in re.finditer(r"^([0-9a-f]+) <(.+@plt)>:", out, re.M)}


def _ours(path) -> dict[int, str]:
    with ElfFile.open(str(path)) as elf:
        table = plt_table(elf, _namer(SymbolTable.from_elf(elf)))
    return {start: name for name, start in table.stubs()} if table else {}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def plt_binary(request, build_dir):
    if request.param == "lld":
        require_tool("ld.lld")
    return compile_c(PROGRAM_C, build_dir / f"plt-{request.param}", *LAYOUTS[request.param])


def test_stubs_match_objdump(plt_binary):
    oracle = _objdump_plt(plt_binary)
    assert oracle, "objdump shows no PLT stubs: nothing to compare"
    assert _ours(plt_binary) == oracle


def test_stubs_of_system_binaries_match_objdump():
    for path in (sys.executable, "/usr/lib/x86_64-linux-gnu/libc.so.6"):
        oracle = _objdump_plt(path)
        ours = _ours(path)
        # objdump calls IFUNC stubs *ABS*+0xRESOLVER@plt; we name them after the resolver.
        named = {a: n for a, n in oracle.items() if not n.startswith("*ABS*")}
        assert {a: ours[a] for a in named} == named
        for address, name in oracle.items():
            if name.startswith("*ABS*"):
                assert ours[address].endswith("@plt")


def test_sample_in_a_plt_stub(plt_binary, no_fd_leak):
    stubs = {name: addr for addr, name in _objdump_plt(plt_binary).items()}
    alpha_vaddr = nm_symbols(plt_binary)["alpha"][0]
    with running(plt_binary) as prog, Symbolizer() as sym:
        bias = prog.addresses["alpha"] - alpha_vaddr  # load address (0 without PIE)
        for name, vaddr in stubs.items():
            (frame,) = sym.user_frames(prog.pid, bias + vaddr + 4)
            assert frame.function == name
        assert sym.stats.unsymbolized == 0
