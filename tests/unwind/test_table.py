"""Unwind tables: lookups, gaps, the packed layout, the build-id cache, address translation."""

from __future__ import annotations

import shutil

from profiler.unwind import TableCache, build_table_for_file
from profiler.unwind.cache import read_own_vdso
from profiler.unwind.cfi import CFA_REG, R_OFFSET, parse_cfi
from profiler.unwind.elf_binary import LoadSegment, read_elf_unwind_info, vaddr_bias
from profiler.unwind.lazy_table import LazyUnwindTable
from profiler.unwind.table import CFA_NONE, NO_INFO, PACKED_ROW, REG_SP, UnwindTable, build_table

from .snapshots import symbol_table

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def test_libc_table_covers_its_functions():
    table = build_table_for_file(LIBC)
    assert table.fde_count > 1000
    assert list(table.pcs) == sorted(table.pcs)
    # Rows are shared: far fewer distinct rules than pc ranges.
    assert len({id(r) for r in table.rows}) < len(table.rows) / 10
    # Every FDE's first pc has a real CFA rule; below the first FDE there is none.
    info = read_elf_unwind_info(LIBC)
    (section,) = [s for s in info.cfi if s.name == ".eh_frame"]
    fdes = parse_cfi(section.data, section.addr, eh_frame=True)
    for fde in fdes[::50]:
        assert table.lookup(fde.pc_begin)[0] != CFA_NONE
    assert table.lookup(min(f.pc_begin for f in fdes) - 1) is NO_INFO
    assert table.lookup(0) is NO_INFO


def test_packed_rows_round_trip():
    table = build_table_for_file(LIBC)
    raw = table.packed()
    assert len(raw) == PACKED_ROW.size * len(table) and PACKED_ROW.size == 32
    for i in range(0, len(table), 997):
        pc, ck, creg, rk, fk, aux, sig, coff, roff, foff = PACKED_ROW.unpack_from(raw, i * 32)
        assert pc == table.pcs[i]
        assert (ck, creg, coff, rk, roff, fk, foff, aux, sig) == table.rows[i]


def test_a_function_entry_row_on_x86_64(c_snapshots):
    exe, _ = c_snapshots["omit_fp"]
    table = build_table_for_file(str(exe))
    symbols = symbol_table(str(exe))
    entry = next(v for v, (_, name) in symbols.syms.items() if name == "func_a")
    # At a function's first instruction the CFA is rsp+8 and the RA sits just below it.
    ck, creg, coff, rk, roff, *_ = table.lookup(entry)
    assert (ck, creg, coff, rk, roff) == (CFA_REG, REG_SP, 8, R_OFFSET, -8)


def test_cache_is_keyed_by_build_id(tmp_path, no_fd_leak):
    cache = TableCache()
    first = cache.table_for_file(LIBC)
    copy = tmp_path / "libc-copy.so"
    shutil.copyfile(LIBC, copy)
    second = cache.table_for_file(str(copy))
    assert second is first  # another path, same build id: not parsed again
    assert cache.builds == 1 and cache.hits == 1
    assert cache.table_for_file(LIBC) is first
    assert cache.table_for_build_id(first.build_id) is first


def test_cache_remembers_unreadable_files(tmp_path, no_fd_leak):
    cache = TableCache()
    not_elf = tmp_path / "script.sh"
    not_elf.write_text("#!/bin/sh\n")
    assert cache.table_for_file(str(not_elf)) is None
    assert cache.table_for_file(str(not_elf)) is None
    assert cache.table_for_file(str(tmp_path / "missing")) is None
    assert cache.builds == 0


def test_cache_evicts_least_recently_used(c_snapshots):
    cache = TableCache(max_tables=1)
    exe, _ = c_snapshots["omit_fp"]
    cache.table_for_file(LIBC)
    cache.table_for_file(str(exe))
    assert cache.table_for_build_id(read_elf_unwind_info(LIBC).build_id) is None
    assert cache.builds == 2


def test_vdso_table(no_fd_leak):
    image = read_own_vdso()
    assert image is not None and image[:4] == b"\x7fELF"
    table = TableCache().vdso_table()
    assert table is not None and table.fde_count > 0


def test_vaddr_bias_prefers_the_segment_matching_the_mapping():
    # rust-lld style: the executable segment starts mid-page, in the page the read-only one ends.
    segments = (
        LoadSegment(offset=0, vaddr=0, filesz=0x167E0, memsz=0x167E0, executable=False),
        LoadSegment(offset=0x167E0, vaddr=0x177E0, filesz=0x466D0, memsz=0x466D0, executable=True),
    )
    start = 0x5555_0001_6000
    bias = vaddr_bias(segments, start, 0x16000, executable=True)
    assert start + 0x7E0 + bias == 0x177E0  # the first instruction of the code segment
    assert vaddr_bias(segments, 0x5555_0000_0000, 0, executable=False) == -0x5555_0000_0000
    assert vaddr_bias(segments, start, 0x900000, executable=True) is None


def test_lazy_table_gives_the_same_rows_as_the_full_table():
    info = read_elf_unwind_info(LIBC)
    lazy = LazyUnwindTable.from_info(info)
    full = build_table(info)
    assert lazy is not None and lazy.fde_count == full.fde_count
    probes = [p + d for p in full.pcs[::7] for d in (-1, 0, 1)]
    assert [lazy.lookup(v) for v in probes] == [full.lookup(v) for v in probes]
    assert lazy.fdes_parsed < full.fde_count  # only the functions looked up were parsed
    assert lazy.materialize().rows == full.rows


def test_lazy_is_the_default_and_needs_eh_frame_hdr(c_snapshots):
    assert isinstance(TableCache().table_for_file(LIBC), LazyUnwindTable)
    assert isinstance(TableCache(lazy=False).table_for_file(LIBC), UnwindTable)
    exe, _ = c_snapshots["debug_frame"]  # CFI in .debug_frame too: built whole
    assert isinstance(TableCache().table_for_file(str(exe)), UnwindTable)
