"""Inputs whose parts point at each other so that a naive reader redoes its work over and over:
each shared part is read once, and the work a file can cause is bounded by its size."""

from __future__ import annotations

import struct
from pathlib import Path

from profiler.symbolize import dwarf_lines
from profiler.symbolize.dwarf import DwarfInfo
from profiler.unwind import cfi
from profiler.unwind.arch import X86_64
from profiler.unwind.elf_binary import CfiSection, ElfUnwindInfo
from profiler.unwind.lazy_table import LazyUnwindTable
from profiler.unwind.table import NO_INFO, build_table
from tests.dwarf_async.builds import build_c_program
from tests.unwind.test_cfi import build_eh_frame

from .targets import section_bytes


def test_units_sharing_one_line_program_decode_it_once(tmp_path, monkeypatch):
    binary = Path(build_c_program(tmp_path, 4)).read_bytes()
    names = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_ranges",
             ".debug_aranges")  # fmt: skip
    sections = {n: section_bytes(binary, n) for n in names}
    (length,) = struct.unpack_from("<I", sections[".debug_info"], 0)
    unit = sections[".debug_info"][: 4 + length]
    sections[".debug_info"] = unit * 500  # 500 units, one line program (and one abbrev table)
    parsed = []
    real_parse = dwarf_lines.LineTable.parse.__func__

    def counting(cls, strings, offset, comp_dir):
        parsed.append(offset)
        return real_parse(cls, strings, offset, comp_dir)

    monkeypatch.setattr(dwarf_lines.LineTable, "parse", classmethod(counting))
    info = DwarfInfo.from_sections(sections, True, 8)
    assert info.build_index() > 0
    assert len(info._units) == 500
    assert parsed == [0]  # once, not 500 times


def test_a_cie_shared_by_many_fdes_runs_once():
    # A CIE whose initial instructions are 60 000 bytes (nops and one def_cfa), 3000 FDEs.
    nops = b"\x00" * 60_000
    section = build_eh_frame(0x1000, [(0x10000 + 16 * i, 16, b"") for i in range(3000)])
    cie_length = struct.unpack_from("<I", section, 0)[0]
    body = section[4 : 4 + cie_length] + nops  # the CIE ends with its initial instructions
    section = struct.pack("<I", len(body)) + body + _fdes_after(section, cie_length, len(nops))
    cfi._cie_state.cache_clear()
    table = build_table(
        ElfUnwindInfo("sha1:x", X86_64, (), (CfiSection(".eh_frame", 0x1000, section),))
    )
    assert table.fde_count == 3000
    info = cfi._cie_state.cache_info()
    assert info.misses == 1 and info.hits == 2999
    assert table.lookup(0x10000 + 16 * 2999 + 3)[:3] == (cfi.CFA_REG, 0, 8)


def _fdes_after(section: bytes, cie_length: int, grown: int) -> bytes:
    """The FDEs of ``section`` with their CIE pointers moved back by ``grown`` bytes (the CIE
    before them grew) and their pc-relative starts adjusted the same way."""
    out = bytearray(section[4 + cie_length :])
    pos = 0
    while pos + 4 <= len(out):
        (length,) = struct.unpack_from("<I", out, pos)
        if length == 0:
            break
        pointer, pc = struct.unpack_from("<Ii", out, pos + 4)
        struct.pack_into("<Ii", out, pos + 4, pointer + grown, pc - grown)
        pos += 4 + length
    return bytes(out)


def test_a_search_table_pointing_many_times_at_one_fde_is_bounded():
    program = b"\x41\x0e\x10" * 20_000  # a 60 000-byte FDE program
    section = build_eh_frame(0x1000, [(0x10000, 0x100000, program)])
    count = 2000  # entries, all for the one FDE (at section offset 4 + CIE length)
    fde = 4 + struct.unpack_from("<I", section, 0)[0]
    hdr_addr = 0x100
    table = b"".join(
        struct.pack("<ii", 0x10000 + 16 * i - hdr_addr, 0x1000 + fde - hdr_addr)
        for i in range(count)
    )
    hdr = bytes([1, 0x1B, 0x03, 0x3B]) + struct.pack("<iI", 0x1000 - (hdr_addr + 4), count)
    info = ElfUnwindInfo(
        "sha1:x", X86_64, (), (CfiSection(".eh_frame", 0x1000, section),),
        CfiSection(".eh_frame_hdr", hdr_addr, hdr + table),
    )  # fmt: skip
    lazy = LazyUnwindTable.from_info(info)
    assert lazy is not None and lazy.fde_count == count
    rows = [lazy.lookup(0x10000 + 16 * i) for i in range(count)]
    # Entries past the first point at an FDE that starts elsewhere: no information; and past
    # the budget (a few times .eh_frame's size) nothing more is parsed.
    assert rows[0] != NO_INFO
    assert all(row == NO_INFO for row in rows[1:])
    assert lazy.fdes_parsed == count
    assert lazy.bad_fdes > 0
    parsed_bytes = 4 * len(section) + (1 << 20)
    assert (count - lazy.bad_fdes) * len(program) <= parsed_bytes + len(program)


def test_range_lists_without_their_terminator_are_read_a_bounded_number_of_times(tmp_path):
    # Found by the long fuzzing mode: .debug_ranges shifted by a few bytes (an insertion), so
    # no list ends where one is looked for and every unit's list runs on to the section's end:
    # units x section of work (over 2 minutes for a Rust binary's DWARF). Now bounded.
    from profiler.symbolize.dwarf_dies import DwarfError, UnitReader

    binary = Path(build_c_program(tmp_path, 4)).read_bytes()
    names = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_aranges")
    sections = {n: section_bytes(binary, n) for n in names}
    sections[".debug_ranges"] = struct.pack("<QQ", 0x10, 0x20) * 4096  # 64 KiB, no (0, 0)
    info = DwarfInfo.from_sections(sections, True, 8)
    reader = UnitReader(info._sections, next(iter(info._cus.values())))
    assert len(reader.range_list(0, 0x1000)) == 4096  # one whole read is fine
    reads = 1
    try:
        while reads < 1000:
            reader.range_list(0, 0x1000)
            reads += 1
    except DwarfError as e:
        assert "range lists" in str(e)
    # The budget: 1 MiB plus 4 times the section, i.e. ~20 whole reads of it, not 1000.
    assert reads <= ((1 << 20) + 4 * len(sections[".debug_ranges"])) // (1 << 16) + 1
