"""Issue 14, rows 1 and 9, as tests: the exact hostile inputs named there, each giving only the
reader's documented error (or, through the symbolizer and the unwinder, costing only the frames
of the bad binary). On the code before the readers were made total, each of these raised
``OverflowError``, ``ZeroDivisionError``, ``struct.error``, ``KeyError``, ``TypeError`` or
``CfiError`` out of a lookup, or blocked on a FIFO (see the note of issue 14).
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from profiler.elf.errors import ElfError, FormatError
from profiler.elf.file import ElfFile
from profiler.elf.symbols import SymbolTable
from profiler.frames.model import USER
from profiler.symbolize import Symbolizer
from profiler.symbolize.dwarf import DwarfInfo
from profiler.symbolize.dwarf_errors import DwarfError
from profiler.unwind.cache import TableCache
from profiler.unwind.cfi import CfiError, parse_cfi
from profiler.unwind.elf_binary import CfiSection, read_elf_unwind_info
from profiler.unwind.lazy_table import LazyUnwindTable
from profiler.unwind.table import NO_INFO
from tests.dwarf_async.builds import build_c_program
from tests.symbolize.native_programs import PROGRAM_C, SHARED_C, compile_c, nm_symbols, running

from .targets import section_bytes

_SHDR = 64  # ELF64 section header size


def _section_header(image: bytes, name: str) -> int:
    """The file offset of section ``name``'s header."""
    elf = ElfFile.from_bytes(image)
    index = next(i for i, s in enumerate(elf.sections) if s.name == name)
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    return shoff + _SHDR * index


def _with(image: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(image)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


# -- row 1: a library whose section header says sh_offset = 1 << 63, dlopen'ed by a process ------


@pytest.fixture(scope="module")
def program_with_library(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("row1")
    library = compile_c(SHARED_C, out / "libshared.so", "-O2", "-fPIC", "-shared")
    program = compile_c(
        PROGRAM_C, out / "prog", "-O2", "-DWITH_SHARED", f"-L{out}", "-lshared",
        f"-Wl,-rpath,{out}",
    )  # fmt: skip
    return program, library


@pytest.mark.parametrize("section", [".symtab", ".shstrtab", ".eh_frame"])
def test_row1_library_with_a_section_at_offset_2_pow_63(program_with_library, section, no_fd_leak):
    program, library = program_with_library
    pristine = library.read_bytes()
    # The loader ignores section headers: the process runs with the mutated library mapped.
    library.write_bytes(_with(pristine, _section_header(pristine, section) + 24, "<Q", 1 << 63))
    try:
        with running(program) as prog, Symbolizer() as sym:
            (own,) = sym.user_frames(prog.pid, prog.addresses["alpha"])
            assert own.function == "alpha" and own.kind == USER
            frames = sym.user_frames(prog.pid, prog.addresses["shared_fn"])  # no OverflowError
            assert [f.module_path for f in frames] == [str(library)]
            if section == ".eh_frame":  # symbols are intact: only unwinding loses this library
                assert [f.function for f in frames] == ["shared_fn"]
            else:
                assert sym.stats.unreadable >= 1
        cache = TableCache()
        table = cache.table_for_file(str(library))  # no OverflowError
        assert (table is None) == (section in (".shstrtab", ".eh_frame"))
    finally:
        library.write_bytes(pristine)


def test_row1_program_header_entry_size_zero(program_with_library):
    image = program_with_library[0].read_bytes()
    with pytest.raises(ElfError, match="program header entry size 0"):
        ElfFile.from_bytes(_with(image, 0x36, "<H", 0))  # e_phentsize; was ZeroDivisionError


def test_row1_truncated_program_headers(program_with_library):
    image = program_with_library[0].read_bytes()
    with pytest.raises(ElfError, match="program header entry size 32"):
        ElfFile.from_bytes(_with(image, 0x36, "<H", 32))  # 56-byte entries read as 32: struct.error
    (phoff,) = struct.unpack_from("<Q", image, 0x20)
    with pytest.raises(ElfError, match="run past the file end"):
        ElfFile.from_bytes(image[: phoff + 56 * 2 + 10])
    with pytest.raises(ElfError, match="truncated ELF header"):
        ElfFile.from_bytes(image[:60])  # a 64-bit header cut short: was struct.error


def test_row1_symbol_whose_end_passes_2_pow_64(program_with_library):
    program = program_with_library[0]
    image = program.read_bytes()
    alpha = nm_symbols(program)["alpha"][0]
    elf = ElfFile.from_bytes(image)
    symtab = elf.section(".symtab")
    raw = elf.read_section(symtab)
    index = next(
        i for i in range(0, len(raw), 24) if struct.unpack_from("<Q", raw, i + 8)[0] == alpha
    )
    mutated = _with(image, symtab.offset + index + 16, "<Q", (1 << 64) - 1)  # st_size
    table = SymbolTable.from_elf(ElfFile.from_bytes(mutated))  # was OverflowError (array 'Q')
    assert table.lookup(alpha) == ("alpha", alpha)
    assert table.lookup((1 << 64) - 2)[0] == "alpha"  # it runs to the top, cut at 2**64 - 1


def test_row1_non_regular_files_are_refused_without_blocking(tmp_path, no_fd_leak):
    fifo = tmp_path / "perf-map-like.fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []
    worker = threading.Thread(target=lambda: outcome.append(_open_error(str(fifo))))
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # blocked in open(): let it go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join()
        pytest.fail("ElfFile.open blocked on a FIFO")
    assert isinstance(outcome[0], ElfError) and "not a regular file" in str(outcome[0])
    assert isinstance(_open_error("/dev/zero"), ElfError)
    read, write = os.pipe()
    os.close(write)
    with pytest.raises(ElfError, match="not a regular file"):
        ElfFile.from_fd(read, "a pipe")  # the fd is ours now, and closed (no_fd_leak checks)


def _open_error(path: str) -> BaseException | None:
    try:
        ElfFile.open(path).close()
    except (OSError, FormatError) as e:
        return e
    return None


# -- row 9: mutated .eh_frame / .debug_info / .debug_line ----------------------------------------


@pytest.fixture(scope="module")
def c_binary(tmp_path_factory) -> bytes:
    return Path(build_c_program(tmp_path_factory.mktemp("row9"), 5)).read_bytes()


def test_row9_eh_frame_entry_too_short_for_its_pointers(c_binary):
    info = read_elf_unwind_info(c_binary)
    eh = next(s for s in info.cfi if s.name == ".eh_frame")
    (cie_length,) = struct.unpack_from("<I", eh.data, 0)
    fde = 4 + cie_length
    # The first FDE keeps only its CIE pointer and ends the section: pc_begin is not there.
    cut = _with(eh.data[: fde + 8], fde, "<I", 4)
    with pytest.raises(CfiError):
        parse_cfi(cut, eh.addr, eh_frame=True)  # was struct.error


def test_row9_lazy_per_function_parsing_never_raises(c_binary):
    info = read_elf_unwind_info(c_binary)
    eh = next(s for s in info.cfi if s.name == ".eh_frame")
    hdr = info.eh_frame_hdr
    (count,) = struct.unpack_from("<I", hdr.data, 8)
    starts = [hdr.addr + struct.unpack_from("<i", hdr.data, 12 + 8 * i)[0] for i in range(count)]
    # Entry 0 points 2 bytes before the end of .eh_frame (was struct.error in lookup); the
    # FDE entry 1 points at gets an unknown opcode (was CfiError out of lookup, mid-unwind).
    near_end = eh.addr + len(eh.data) - 2 - hdr.addr
    hdr_data = _with(hdr.data, 16, "<i", near_end)
    fde = struct.unpack_from("<i", hdr.data, 12 + 8 + 4)[0] + hdr.addr - eh.addr
    (fde_length,) = struct.unpack_from("<I", eh.data, fde)
    eh_data = bytearray(eh.data)
    eh_data[fde + 4 + fde_length - 1] = 0x3F  # the last instruction byte: DW_CFA opcode 0x3f
    lazy = LazyUnwindTable.from_info(
        replace(
            info,
            cfi=(CfiSection(eh.name, eh.addr, bytes(eh_data)),),
            eh_frame_hdr=CfiSection(hdr.name, hdr.addr, hdr_data),
        )
    )
    assert lazy is not None
    assert lazy.lookup(starts[0]) == NO_INFO
    assert lazy.lookup(starts[1]) == NO_INFO
    assert lazy.bad_fdes == 2
    intact = LazyUnwindTable.from_info(info)
    for i in range(2, count):  # the other functions are unaffected
        assert lazy.lookup(starts[i]) == intact.lookup(starts[i])


def _dwarf(image: bytes, **replaced: bytes) -> DwarfInfo:
    names = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_line_str",
             ".debug_rnglists", ".debug_aranges", ".debug_addr", ".debug_str_offsets")  # fmt: skip
    sections = {n: section_bytes(image, n) for n in names}
    sections.update({"." + k: v for k, v in replaced.items()})
    return DwarfInfo.from_sections(sections, True, 8)


def test_row9_debug_info_with_an_unknown_abbreviation_code(c_binary):
    info_bytes = section_bytes(c_binary, ".debug_info")
    # DWARF 5 unit header: 12 bytes; the top DIE's code is a one-byte LEB128, and this small
    # unit's abbreviation table has a few dozen codes: 0x7f is none of them.
    assert info_bytes[12] < 0x40
    info = _dwarf(c_binary, debug_info=_with(info_bytes, 12, "<B", 0x7F))
    with pytest.raises(DwarfError, match="KeyError"):  # was KeyError
        info.build_index()


def test_row9_debug_line_with_a_file_table_that_lost_its_directory_index(c_binary):
    line = bytearray(section_bytes(c_binary, ".debug_line"))
    # DWARF 5 header: the file name entry format is (DW_LNCT_path, form), (DW_LNCT_directory_
    # index, form); make the second DW_LNCT_MD5 read as data16 (16 bytes instead of 1).
    at = _v5_file_format(bytes(line))
    assert line[at + 2] == 2  # DW_LNCT_directory_index
    line[at + 2], line[at + 3] = 5, 0x1E  # DW_LNCT_MD5, DW_FORM_data16
    info = _dwarf(c_binary, debug_line=bytes(line))
    with pytest.raises(DwarfError):  # was TypeError (dwarf_lines.file_table) or IndexError
        info.build_index()


def _v5_file_format(line: bytes) -> int:
    """The offset of the file name entry format of the first (DWARF 5) line program header."""
    # length 4, version 2, address and selector sizes 2, header_length 4, then five one-byte
    # fields; opcode_base is the fifth.
    opcode_base = line[4 + 2 + 2 + 4 + 5]
    at = 4 + 2 + 2 + 4 + 6 + opcode_base - 1  # past the standard opcode lengths
    count = line[at]
    at += 1 + 2 * count  # directory entry formats (one-byte LEB128s in gcc's output)
    dirs = line[at]
    at += 1 + 4 * dirs  # directories: DW_FORM_line_strp each
    return at + 1  # past file_name_entry_format_count
