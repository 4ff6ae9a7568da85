"""arm64: tables from a real AArch64 ELF (llvm-mc + ld.lld) and an unwind through the link
register, a frame record and the entry point's end mark. The binary is never run: the test lays
out the stack it would have, instruction by instruction, as the comments in the source say."""

from __future__ import annotations

import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from profiler.process.maps import ProcessMaps
from profiler.unwind import AARCH64, TableCache, Unwinder
from profiler.unwind.cfi import CFA_REG, R_OFFSET, R_SAME, R_UNDEFINED
from profiler.unwind.elf_binary import read_elf_unwind_info
from profiler.unwind.table import REG_FP, REG_SP, build_table
from profiler.unwind.unwinder import END_RA_UNDEFINED
from tests.support import require_tool

from .workload_build import WORKLOADS


@pytest.fixture(scope="module")
def arm64_binary(tmp_path_factory):
    llvm_mc = require_tool("llvm-mc")
    lld = require_tool("ld.lld")
    base = tmp_path_factory.mktemp("arm64")
    obj, exe = base / "calls.o", base / "calls"
    src = WORKLOADS / "arm64_calls.s"
    subprocess.run(
        [llvm_mc, "-triple=aarch64-linux-gnu", "-filetype=obj", "-o", str(obj), str(src)],
        check=True,
        capture_output=True,
    )
    subprocess.run([lld, "--eh-frame-hdr", "-o", str(exe), str(obj)], check=True)
    with open(exe, "rb") as stream:
        symtab = ELFFile(stream).get_section_by_name(".symtab")
        symbols = {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name}
    return exe, symbols


def test_arm64_rows(arm64_binary):
    exe, sym = arm64_binary
    info = read_elf_unwind_info(str(exe))
    assert info.arch is AARCH64
    table = build_table(info)

    def rule(vaddr):
        ck, creg, coff, rk, roff, fk, foff, _, _ = table.lookup(vaddr)
        return (ck, creg, coff), (rk, roff), (fk, foff)

    in_lr = (R_SAME, 0)  # "same value" for x30: the RA is still in the link register
    assert rule(sym["leaf"]) == ((CFA_REG, REG_SP, 0), in_lr, (R_SAME, 0))
    assert rule(sym["framed"]) == ((CFA_REG, REG_SP, 0), in_lr, (R_SAME, 0))
    saved = ((R_OFFSET, -24), (R_OFFSET, -32))
    assert rule(sym["framed"] + 4) == ((CFA_REG, REG_SP, 32), *saved)  # after stp
    assert rule(sym["framed"] + 8) == ((CFA_REG, REG_FP, 32), *saved)  # after mov x29, sp
    assert rule(sym["after_leaf"] + 4) == ((CFA_REG, REG_SP, 0), in_lr, (R_SAME, 0))
    assert rule(sym["_start"])[1] == (R_UNDEFINED, 0)


def mappings_for(exe) -> ProcessMaps:
    """Where the kernel would map the static executable (its text segment, page aligned)."""
    info = read_elf_unwind_info(str(exe))
    text = next(s for s in info.segments if s.executable)
    start, offset = text.vaddr & ~0xFFF, text.offset & ~0xFFF
    end = (text.vaddr + text.memsz + 0xFFF) & ~0xFFF
    return ProcessMaps.from_text(f"{start:x}-{end:x} r-xp {offset:08x} 08:01 77 {exe}\n")


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "eager"])
def test_arm64_unwind_from_the_leaf(arm64_binary, lazy):
    exe, sym = arm64_binary
    top = 0x7FFF_F000  # sp in _start
    # framed: stp x29, x30, [sp, #-32]! stores x29 = 0 (set by _start) and x30 = after_framed.
    sp = top - 32
    stack = struct.pack("<QQ", 0, sym["after_framed"]) + b"\xee" * 16 + b"\0" * 64
    # In leaf: fp = sp (mov x29, sp), lr = after_leaf (bl leaf).
    regs = {"pc": sym["leaf"], "sp": sp, "fp": sp, "lr": sym["after_leaf"]}
    unwinder = Unwinder(cache=TableCache(lazy=lazy), arch=AARCH64)
    result = unwinder.unwind(regs, stack, mappings_for(exe))
    assert result.addrs == (sym["leaf"], sym["after_leaf"], sym["after_framed"])
    assert (result.reason, result.truncated, result.fp_frames) == (END_RA_UNDEFINED, False, 0)


def test_arm64_unwind_at_a_function_entry(arm64_binary):
    exe, sym = arm64_binary
    # At framed's first instruction nothing is saved yet: the RA is in x30.
    regs = {"pc": sym["framed"], "sp": 0x7FFF_F000, "fp": 0, "lr": sym["after_framed"]}
    result = Unwinder(arch=AARCH64).unwind(regs, b"\0" * 64, mappings_for(exe))
    assert result.addrs == (sym["framed"], sym["after_framed"])
    assert result.reason == END_RA_UNDEFINED
