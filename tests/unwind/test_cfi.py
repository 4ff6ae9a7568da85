"""The CFI parser and interpreter: hand-built entries, and real binaries against two oracles
(binutils ``readelf --debug-dump=frames-interp`` for the rows, pyelftools for the FDE list)."""

from __future__ import annotations

import os
import re
import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

from profiler.unwind import cfi
from profiler.unwind.arch import X86_64
from profiler.unwind.cfi import (
    CFA_DEREF,
    CFA_PLT,
    CFA_REG,
    CFA_UNSUPPORTED,
    R_AT_REG,
    R_OFFSET,
    R_SAME,
    R_UNDEFINED,
    R_UNSUPPORTED,
    CfiError,
    parse_cfi,
    run_fde,
)
from profiler.unwind.elf_binary import CfiSection, ElfUnwindInfo, read_elf_unwind_info
from profiler.unwind.table import REG_FP, REG_SP, build_table
from tests.support import require_tool

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def enc_uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def enc_sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_uleb128_round_trip(value):
    data = b"\xaa" + enc_uleb(value) + b"\xbb"
    assert cfi.uleb128(data, 1) == (value, len(data) - 1)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_sleb128_round_trip(value):
    data = enc_sleb(value) + b"\x00"
    assert cfi.sleb128(data, 0) == (value, len(data) - 1)


@pytest.mark.parametrize(
    ("encoding", "raw", "expected"),
    [
        (0x00, struct.pack("<Q", 0x1122334455667788), 0x1122334455667788),  # absptr
        (0x03, struct.pack("<I", 0x80000000), 0x80000000),  # udata4
        (0x0B, struct.pack("<i", -16), 2**64 - 16),  # sdata4
        (0x1B, struct.pack("<i", -16), 0x1000 + 4 - 16),  # pcrel|sdata4: field at 0x1004
        (0x1C, struct.pack("<q", 0x40), 0x1000 + 4 + 0x40),  # pcrel|sdata8
        (0x02, struct.pack("<H", 0xBEEF), 0xBEEF),
        (0x09, enc_sleb(-3), 2**64 - 3),
    ],
)
def test_read_encoded(encoding, raw, expected):
    value, pos = cfi.read_encoded(b"\0" * 4 + raw, 4, encoding, section_addr=0x1000)
    assert (value, pos) == (expected, 4 + len(raw))


def test_read_encoded_rejects_datarel():
    with pytest.raises(CfiError, match="unsupported pointer application"):
        cfi.read_encoded(struct.pack("<i", 4), 0, 0x3B, 0)


def eh_entry(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


def build_eh_frame(section_addr: int, fdes: list[tuple[int, int, bytes]], cie_aug=b"zR") -> bytes:
    """A CIE (cf=1, df=-8, ra=16, pcrel|sdata4 FDE pointers, CFA=rsp+8, RA at c-8) and FDEs."""
    cie_body = (
        struct.pack("<I", 0)  # CIE id
        + b"\x01"  # version
        + cie_aug
        + b"\0"
        + enc_uleb(1)
        + enc_sleb(-8)
        + b"\x10"  # ra column 16
        + enc_uleb(1)
        + b"\x1b"  # augmentation data: FDE encoding pcrel|sdata4
        + b"\x0c\x07\x08"  # def_cfa rsp, 8
        + b"\x90\x01"  # offset r16, 1*-8
    )
    out = bytearray(eh_entry(cie_body))
    for pc_begin, length, program in fdes:
        start = len(out)
        cie_pointer = start + 4  # counts back from the field to the CIE at offset 0
        pc_field = section_addr + start + 8
        body = (
            struct.pack("<I", cie_pointer)
            + struct.pack("<i", pc_begin - pc_field)
            + struct.pack("<I", length)
            + enc_uleb(0)
            + program
        )
        out += eh_entry(body)
    out += b"\0\0\0\0"
    return bytes(out)


PLT_EXPRESSION = bytes([0x77, 0x08, 0x80, 0x00, 0x3F, 0x1A, 0x3B, 0x2A, 0x33, 0x24, 0x22])


def test_hand_built_eh_frame_rows():
    program = (
        b"\x41"  # advance 1
        + b"\x0e\x10"  # def_cfa_offset 16
        + b"\x86\x02"  # offset rbp, c-16
        + b"\x41"
        + b"\x0d\x06"  # def_cfa_register rbp
        + b"\x0a"  # remember_state
        + b"\x42"
        + b"\x0c\x07\x08"  # def_cfa rsp, 8 (the epilogue)
        + b"\xc6"  # restore rbp
        + b"\x2e\x10"  # GNU_args_size 16 (ignored)
        + b"\x41"
        + b"\x0b"  # restore_state
        + b"\x02\x10"  # advance_loc1 16
        + b"\x07\x10"  # undefined RA
    )
    data = build_eh_frame(0x2000, [(0x1000, 0x40, program)])
    (fde,) = parse_cfi(data, 0x2000, eh_frame=True)
    assert (fde.pc_begin, fde.pc_end) == (0x1000, 0x1040)
    assert fde.cie.augmentation == "zR" and fde.cie.data_align == -8
    rows = [(pc, cfa, regs.get(6, (R_SAME, 0, 0)), regs[16]) for pc, cfa, regs in run_fde(fde)]
    ra = (R_OFFSET, -8, 0)
    rbp_saved = (R_OFFSET, -16, 0)
    assert rows == [
        (0x1000, (CFA_REG, 7, 8), (R_SAME, 0, 0), ra),
        (0x1001, (CFA_REG, 7, 16), rbp_saved, ra),
        (0x1002, (CFA_REG, 6, 16), rbp_saved, ra),
        (0x1004, (CFA_REG, 7, 8), (R_SAME, 0, 0), ra),
        (0x1005, (CFA_REG, 6, 16), rbp_saved, ra),
        (0x1015, (CFA_REG, 6, 16), rbp_saved, (R_UNDEFINED, 0, 0)),
    ]


def test_expressions_are_classified():
    assert cfi.classify_cfa_expression(PLT_EXPRESSION) == (CFA_PLT, 7, 8, 11)
    assert cfi.classify_cfa_expression(bytes([0x77]) + enc_sleb(160) + b"\x06") == (
        CFA_DEREF,
        7,
        160,
    )
    assert cfi.classify_cfa_expression(b"\x77\x08\x06\x23\x08")[0] == CFA_UNSUPPORTED
    assert cfi.classify_register_expression(bytes([0x77]) + enc_sleb(120)) == (R_AT_REG, 7, 120)
    assert cfi.classify_register_expression(b"\x77\x08\x06")[0] == R_UNSUPPORTED


def test_plt_and_signal_rows_in_a_table():
    plt = b"\x0e\x10\x46\x0e\x18\x4a\x0f" + bytes([len(PLT_EXPRESSION)]) + PLT_EXPRESSION
    data = build_eh_frame(0x5000, [(0x1020, 0x30, plt)])
    section = CfiSection(name=".eh_frame", addr=0x5000, data=data)
    table = build_table(ElfUnwindInfo(build_id="t", arch=X86_64, segments=(), cfi=(section,)))
    assert table.lookup(0x1020)[:3] == (CFA_REG, REG_SP, 16)
    assert table.lookup(0x1026)[:3] == (CFA_REG, REG_SP, 24)
    assert table.lookup(0x1030)[:3] == (CFA_PLT, REG_SP, 8) and table.lookup(0x1030)[7] == 11
    assert table.lookup(0x1050)[0] == 0  # past the FDE: no info
    assert table.lookup(0x1000)[0] == 0


def test_malformed_sections_raise():
    good = build_eh_frame(0, [(0x100, 0x10, b"")])
    with pytest.raises(CfiError, match="past the end"):
        parse_cfi(good[:30], 0, eh_frame=True)
    bad_op = build_eh_frame(0, [(0x100, 0x10, b"\x3f")])
    (fde,) = parse_cfi(bad_op, 0, eh_frame=True)
    with pytest.raises(CfiError, match="unknown DW_CFA opcode 0x3f"):
        run_fde(fde)
    unbalanced = build_eh_frame(0, [(0x100, 0x10, b"\x0b")])
    with pytest.raises(CfiError, match="restore_state without remember_state"):
        run_fde(parse_cfi(unbalanced, 0, eh_frame=True)[0])


def readelf_rows(path: str) -> list[tuple[int, int, int, str, str, str]]:
    """``(fde_start, fde_end, loc, cfa, ra, rbp)`` for every row readelf interprets."""
    readelf = require_tool("readelf")
    # readelf exits 1 on libc without saying why on stderr; the dump itself is complete.
    text = subprocess.run(
        [readelf, "--debug-dump=frames-interp", path], capture_output=True, text=True
    ).stdout
    assert "FDE" in text
    rows: dict[tuple[int, int], dict[int, tuple[str, str, str]]] = {}
    columns: list[str] = []
    current = None
    for line in text.splitlines():
        fde = re.search(r"FDE cie=\w+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", line)
        if fde:
            current = (int(fde.group(1), 16), int(fde.group(2), 16))
            rows.setdefault(current, {})
            continue
        if "CIE" in line or not line.strip():
            if "CIE" in line:
                current = None
            continue
        # "r9 (r9)" (saved in another register) is one value with a space in it.
        parts = re.sub(r"(r\d+) \(\w+\)", r"\1", line).split()
        if parts[0] == "LOC":
            columns = parts
            continue
        if current is not None and re.fullmatch(r"[0-9a-f]{8,16}", parts[0]):
            values = dict(zip(columns, parts, strict=False))
            loc = int(parts[0], 16)
            rows[current][loc] = (values["CFA"], values.get("ra", "?"), values.get("rbp", "u"))
    return [
        (start, end, loc, *vals)
        for (start, end), by_loc in rows.items()
        for loc, vals in by_loc.items()
        if start <= loc < end
    ]


def check_against_readelf(path: str) -> int:
    table = build_table(read_elf_unwind_info(path))
    checked = 0
    for _start, _end, loc, cfa, ra, rbp in readelf_rows(path):
        kind, creg, coff, ra_kind, ra_off, fp_kind, fp_off, _, _ = table.lookup(loc)
        m = re.fullmatch(r"(\w+)\+(\d+)", cfa)
        if m and m.group(1) not in ("rsp", "rbp"):
            assert kind == CFA_UNSUPPORTED, (hex(loc), cfa)  # e.g. rdi+0 in setcontext
        elif m:
            assert (kind, creg, coff) == (
                CFA_REG,
                REG_SP if m.group(1) == "rsp" else REG_FP,
                int(m.group(2)),
            ), (hex(loc), cfa)
        else:
            assert cfa == "exp" and kind in (CFA_PLT, CFA_DEREF, CFA_UNSUPPORTED), (hex(loc), cfa)
        if ra.startswith("c"):
            assert (ra_kind, ra_off) == (R_OFFSET, int(ra[1:])), (hex(loc), ra)
        elif ra == "u":
            assert ra_kind == R_UNDEFINED, hex(loc)
        elif re.fullmatch(r"r\d+", ra):
            assert ra_kind == R_UNSUPPORTED, (hex(loc), ra)  # RA in another register
        else:
            assert ra == "exp" and ra_kind in (R_AT_REG, R_UNSUPPORTED), (hex(loc), ra)
        if rbp.startswith("c"):
            assert (fp_kind, fp_off) == (R_OFFSET, int(rbp[1:])), (hex(loc), rbp)
        elif rbp in ("u", "s"):  # readelf shows a register without a rule as "u"
            assert fp_kind in (R_SAME, R_UNDEFINED), (hex(loc), rbp)
        elif re.fullmatch(r"r\d+", rbp):
            assert fp_kind == R_UNSUPPORTED, (hex(loc), rbp)
        else:
            assert rbp == "exp" and fp_kind in (R_AT_REG, R_UNSUPPORTED), (hex(loc), rbp)
        checked += 1
    return checked


def test_libc_rows_match_readelf():
    assert check_against_readelf(LIBC) > 10000


@pytest.mark.parametrize("variant", ["omit_fp", "with_fp", "debug_frame"])
def test_workload_rows_match_readelf(c_snapshots, variant):
    exe, _ = c_snapshots[variant]
    assert check_against_readelf(str(exe)) > 20


def pyelftools_fde_ranges(path: str, eh: bool) -> set[tuple[int, int]]:
    with open(path, "rb") as stream:
        dwarf = ELFFile(stream).get_dwarf_info()
        entries = dwarf.EH_CFI_entries() if eh else dwarf.CFI_entries()
        return {
            (e["initial_location"], e["initial_location"] + e["address_range"])
            for e in entries
            if type(e).__name__ == "FDE" and e["address_range"]
        }


def test_fde_list_matches_pyelftools_for_libc():
    info = read_elf_unwind_info(LIBC)
    (section,) = [s for s in info.cfi if s.name == ".eh_frame"]
    ours = {(f.pc_begin, f.pc_end) for f in parse_cfi(section.data, section.addr, eh_frame=True)}
    assert ours == pyelftools_fde_ranges(LIBC, eh=True)


def test_debug_frame_fde_list_matches_pyelftools(c_snapshots):
    exe, _ = c_snapshots["debug_frame"]
    info = read_elf_unwind_info(str(exe))
    (section,) = [s for s in info.cfi if s.name == ".debug_frame"]
    ours = {(f.pc_begin, f.pc_end) for f in parse_cfi(section.data, section.addr, eh_frame=False)}
    assert ours and ours == pyelftools_fde_ranges(str(exe), eh=False)


def test_go_compressed_debug_frame_matches_readelf(tmp_path):
    """Go writes its CFI only to a zlib-compressed (SHF_COMPRESSED) ``.debug_frame``."""
    go = require_tool("go")
    (tmp_path / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'
    )
    env = {**os.environ, "GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gopath")}
    exe = tmp_path / "hello"
    subprocess.run(
        [go, "build", "-o", str(exe), "main.go"],
        cwd=tmp_path,
        env={**env, "GOFLAGS": "-mod=mod", "GO111MODULE": "off"},
        check=True,
        capture_output=True,
    )
    info = read_elf_unwind_info(str(exe))
    assert [s.name for s in info.cfi] == [".debug_frame"]
    assert check_against_readelf(str(exe)) > 1000
