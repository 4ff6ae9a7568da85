"""The ELF layer's own contracts: one address rule for symbolizer and unwinder, bounded inflating
of compressed sections, fd ownership, LEB128 limits."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from profiler.elf.address import segment_for
from profiler.elf.compressed import MAX_RATIO, section_data
from profiler.elf.errors import ElfError, Leb128Error
from profiler.elf.file import PF_X, PT_LOAD, AddressSpace, ElfFile, Segment
from profiler.elf.leb128 import sleb128, uleb128
from profiler.symbolize import dwarf
from profiler.symbolize.dwarf import DwarfInfo
from profiler.unwind.elf_binary import LoadSegment, vaddr_bias

from .native_programs import PROGRAM_C, compile_c, nm_symbols

# rust-lld: read-only data, then code starting mid-page in the page where the data ends.
RUST_LLD = (
    Segment(PT_LOAD, 4, 0x0, 0x0, 0x167E0, 0x167E0),
    Segment(PT_LOAD, PF_X | 4, 0x167E0, 0x177E0, 0x466D0, 0x466D0),
)


def test_symbolizer_and_unwinder_agree_on_every_mapping_of_a_shared_page():
    # The kernel maps the shared page twice: read-only at offset 0, executable at 0x16000.
    space = AddressSpace(RUST_LLD)
    loads = tuple(LoadSegment(p.offset, p.vaddr, p.filesz, p.memsz, p.executable) for p in RUST_LLD)
    mappings = [(0x5555_0000_0000, 0x0, False), (0x5555_0001_6000, 0x16000, True)]
    for start, offset, executable in mappings:
        bias = vaddr_bias(loads, start, offset, executable)
        for delta in (0, 0x7E0, 0x7FF, 0xFFF):
            file_offset = offset + delta
            expected = start + delta + bias
            assert space.file_offset_to_vaddr(file_offset, executable) == expected
    # Code (past 0x167E0) is the executable segment's whatever the caller knows.
    for executable in (None, True):
        assert space.file_offset_to_vaddr(0x16800, executable) == 0x17800
    # Not knowing the mapping, a place in the read-only bytes is read-only data.
    assert space.file_offset_to_vaddr(0x16100) == 0x16100
    assert space.file_offset_to_vaddr(0x16100, True) == 0x17100
    assert segment_for(RUST_LLD, 0x900000) is None


def test_compressed_dwarf_gives_the_same_frames(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = compile_c(PROGRAM_C, tmp_path / "a" / "prog", "-O2", "-g")
    packed = compile_c(PROGRAM_C, tmp_path / "b" / "prog", "-O2", "-g", "-gz=zlib")
    with ElfFile.open(str(packed)) as elf:
        info = elf.section(".debug_info")
        assert info.flags & 0x800  # SHF_COMPRESSED
        assert len(section_data(elf, info)) > info.size
    start, size = nm_symbols(plain)["alpha"]
    assert nm_symbols(packed)["alpha"] == (start, size)

    def frames(binary) -> list:
        dwarf.clear_cache()
        info = DwarfInfo.for_elf(str(binary))
        return [
            [(f.function, os.path.basename(f.file), f.line, f.inlined) for f in info.frames(a)]
            for a in range(start, start + size)
        ]

    expected = frames(plain)
    assert any(expected) and frames(packed) == expected


def _with_compressed_section(tmp_path, claimed: int, payload: bytes) -> bytes:
    """A -gz binary whose .debug_info header claims ``claimed`` bytes of ``payload``."""
    binary = compile_c(PROGRAM_C, tmp_path / "gz", "-O2", "-g", "-gz=zlib")
    image = bytearray(binary.read_bytes())
    elf = ElfFile.from_bytes(bytes(image))
    index = elf.sections.index(elf.section(".debug_info"))
    chdr = struct.pack("<IIQQ", 1, 0, claimed, 1) + payload
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    struct.pack_into("<QQ", image, shoff + 64 * index + 24, len(image), len(chdr))
    return bytes(image + chdr)  # the section's new bytes at the end of the file


def test_a_compression_bomb_is_refused(tmp_path):
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) * MAX_RATIO + (1 << 20) < 64 << 20
    elf = ElfFile.from_bytes(_with_compressed_section(tmp_path, 64 << 20, bomb))
    with pytest.raises(ElfError, match="claims"):
        section_data(elf, elf.section(".debug_info"))


def test_a_section_that_lies_about_its_inflated_size_is_refused(tmp_path):
    payload = zlib.compress(b"x" * 1000)
    elf = ElfFile.from_bytes(_with_compressed_section(tmp_path, 10, payload))
    with pytest.raises(ElfError, match="does not inflate to"):
        section_data(elf, elf.section(".debug_info"))


def test_from_fd_owns_the_fd(tmp_path, no_fd_leak):
    path = tmp_path / "prog"
    compile_c(PROGRAM_C, path, "-O2")
    with ElfFile.from_fd(os.open(path, os.O_RDONLY | os.O_CLOEXEC), "prog") as elf:
        st = os.stat(path)
        assert elf.identity() == (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        assert elf.size == st.st_size
    not_elf = tmp_path / "text"
    not_elf.write_text("not an ELF file, but long enough to be read as one: " * 4)
    with pytest.raises(ElfError):
        ElfFile.from_fd(os.open(not_elf, os.O_RDONLY | os.O_CLOEXEC), "text")  # closed for us
    assert ElfFile.from_bytes(path.read_bytes()).identity() is None


def test_reads_outside_the_file_raise(tmp_path):
    path = tmp_path / "prog"
    compile_c(PROGRAM_C, path, "-O2")
    with ElfFile.open(str(path)) as elf:
        for offset, size in ((elf.size, 1), (-1, 4), (0, elf.size + 1), (1 << 63, 1)):
            with pytest.raises(ElfError, match="outside the file"):
                elf.read(offset, size)


def test_leb128_longer_than_a_64_bit_value_is_refused():
    assert uleb128(b"\xff" * 9 + b"\x01", 0) == ((1 << 64) - 1, 10)
    assert sleb128(b"\x80" * 9 + b"\x7f", 0)[0] == -(1 << 63)
    for decode in (uleb128, sleb128):
        with pytest.raises(Leb128Error):
            decode(b"\x80" * 10 + b"\x01", 0)
        with pytest.raises(IndexError):  # cut short: the reader turns it into its own error
            decode(b"\x80\x80", 0)
