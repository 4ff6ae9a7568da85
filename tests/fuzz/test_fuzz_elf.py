"""Fuzzing the ELF-level readers: headers, sections, notes, symbol tables, PLT, Go's pclntab,
MiniDebugInfo, the vdso image and the unwinder's view of a file. Only documented errors."""

from __future__ import annotations

import lzma
import os

from hypothesis import given
from hypothesis import strategies as st

from profiler.elf.compressed import section_data
from profiler.elf.errors import ElfError
from profiler.elf.file import AddressSpace, ElfFile
from profiler.elf.notes import gnu_build_id, parse_notes
from profiler.elf.symbols import SymbolTable, iter_symbols
from profiler.symbolize.go_pclntab import PclntabError, go_symbol_table
from profiler.symbolize.mini_debuginfo import mini_debuginfo_symbols
from profiler.symbolize.plt import plt_table
from profiler.unwind.cfi import CfiError
from profiler.unwind.elf_binary import unwind_info_of
from profiler.unwind.lazy_table import LazyUnwindTable
from profiler.unwind.table import build_table

from .harness import CASES, Case, fuzz_settings, run_case
from .mutations import apply, elf_fields, mutations, section_fields
from .targets import addresses, section_bytes, splice

MAX_SECTIONS_VISITED = 64


def _elf(case: Case, image: bytes) -> ElfFile | None:
    return case.step(ElfFile.from_bytes, image, "fuzz")


def exercise_headers(case: Case, image: bytes) -> None:
    """Headers, every section's (inflated) bytes, notes, the address rule."""
    elf = _elf(case, image)
    if elf is None:
        return
    for section in elf.sections[:MAX_SECTIONS_VISITED]:
        case.step(section_data, elf, section)
    case.step(elf.notes)
    space = AddressSpace.of(elf)
    for offset in (0, 0x1000, len(image) // 2, len(image)):
        for executable in (None, True, False):
            space.file_offset_to_vaddr(offset, executable)
    elf.has_debug_info()
    elf.has_symtab()


def exercise_symbols(case: Case, image: bytes, seed: bytes) -> None:
    """Symbol tables: the nearest-symbol table, every raw entry, lookups at the seed's symbols."""
    elf = _elf(case, image)
    if elf is None:
        return
    table = case.step(SymbolTable.from_elf, elf)
    if table is not None:
        for address in addresses(seed):
            table.lookup(address)
        table.symbols()
    for name in (".symtab", ".dynsym"):
        section = elf.section(name)
        if section is not None:
            case.step(lambda s=section: sum(1 for _ in iter_symbols(elf, s)))


def exercise_unwind_info(case: Case, image: bytes, seed: bytes) -> None:
    """The unwinder's reading of a file: build id, PT_LOADs, CFI; lazy and full tables."""
    elf = _elf(case, image)
    if elf is None:
        return
    info = case.step(unwind_info_of, elf)
    if info is None:
        return
    lazy = case.step(LazyUnwindTable.from_info, info)
    if lazy is not None:
        for address in addresses(seed):
            lazy.lookup(address)  # never raises: a bad FDE is "no information"
    table = case.step(build_table, info)
    if table is not None:
        for address in addresses(seed):
            table.lookup(address)
        table.packed()


def _seed(data: st.DataObject, images: dict[str, bytes]) -> tuple[str, bytes]:
    name = data.draw(st.sampled_from(sorted(images)), label="seed")
    return name, images[name]


@fuzz_settings()
@given(data=st.data())
def test_elf_headers_and_sections(seeds, data):
    _, seed = _seed(data, seeds.elf)
    image = apply(seed, data.draw(mutations(len(seed), elf_fields(seed))))
    run_case("elf", (ElfError,), len(image), lambda case: exercise_headers(case, image))


@fuzz_settings(max(CASES // 4, 5))
@given(data=st.data())
def test_elf_opened_from_a_file(seeds, data, tmp_path_factory):
    """The fd path (``ElfFile.open``: O_PATH probe, fstat, pread), on a file we create."""
    _, seed = _seed(data, seeds.elf)
    image = apply(seed, data.draw(mutations(len(seed), elf_fields(seed))))
    directory = tmp_path_factory.mktemp("elf-case")
    path = str(directory / "case")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(image)

    def body(case: Case) -> None:
        elf = case.step(ElfFile.open, path)
        if elf is not None:
            with elf:
                for section in elf.sections[:MAX_SECTIONS_VISITED]:
                    case.step(elf.read_section, section)

    try:
        run_case("elf", (ElfError,), len(image), body)
    finally:
        os.unlink(path)


_SYMBOL_SECTIONS = (".symtab", ".strtab", ".dynsym", ".dynstr")


@fuzz_settings()
@given(data=st.data())
def test_symbol_tables(seeds, data):
    _, seed = _seed(data, seeds.elf)
    target = data.draw(st.sampled_from(("headers", *_SYMBOL_SECTIONS)), label="target")
    if target == "headers" or not section_bytes(seed, target):
        image = apply(seed, data.draw(mutations(len(seed), section_fields(seed, _SYMBOL_SECTIONS))))
    else:
        raw = section_bytes(seed, target)
        entries = [(at, 8) for at in range(8, len(raw), 24)]  # st_value (and st_size after it)
        image = splice(seed, target, apply(raw, data.draw(mutations(len(raw), entries))))
    run_case("symbols", (ElfError,), len(image), lambda case: exercise_symbols(case, image, seed))


_PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".rela.plt", ".rela.dyn", ".dynsym", ".dynstr")


@fuzz_settings()
@given(data=st.data())
def test_plt(seeds, data):
    _, seed = _seed(data, seeds.with_section(".plt"))
    target = data.draw(st.sampled_from(("headers", ".plt", ".rela.plt", ".dynsym")), label="target")
    raw = section_bytes(seed, target) if target != "headers" else b""
    if raw:
        image = splice(seed, target, apply(raw, data.draw(mutations(len(raw)))))
    else:
        image = apply(seed, data.draw(mutations(len(seed), section_fields(seed, _PLT_SECTIONS))))

    def body(case: Case) -> None:
        elf = _elf(case, image)
        table = case.step(plt_table, elf) if elf is not None else None
        if table is not None:
            for _, start in table.stubs():
                table.lookup(start)

    run_case("plt", (ElfError,), len(image), body)


@fuzz_settings()
@given(data=st.data())
def test_unwinder_view_of_a_file(seeds, data):
    _, seed = _seed(data, seeds.elf)
    cfi = section_fields(seed, (".eh_frame", ".eh_frame_hdr", ".debug_frame"))
    image = apply(seed, data.draw(mutations(len(seed), elf_fields(seed) + cfi)))
    run_case(
        "unwind_elf",
        (ElfError, CfiError),
        len(image),
        lambda case: exercise_unwind_info(case, image, seed),
    )


@fuzz_settings()
@given(data=st.data())
def test_go_pclntab(seeds, data):
    images = seeds.with_section(".gopclntab")
    _, seed = _seed(data, images)
    raw = section_bytes(seed, ".gopclntab")
    header = [(0, 4), (4, 1), (5, 1), (6, 1), (7, 1)] + [(8 + 8 * i, 8) for i in range(8)]
    if data.draw(st.booleans(), label="section header"):
        image = apply(seed, data.draw(mutations(len(seed), section_fields(seed, (".gopclntab",)))))
    else:
        image = splice(seed, ".gopclntab", apply(raw, data.draw(mutations(len(raw), header))))

    def body(case: Case) -> None:
        elf = _elf(case, image)
        table = case.step(go_symbol_table, elf) if elf is not None else None
        if table is not None:
            for address in addresses(seed, 16):
                table.lookup(address)

    run_case("gopclntab", (PclntabError, ElfError), len(image), body)


@fuzz_settings()
@given(data=st.data())
def test_mini_debuginfo(seeds, data):
    seed = seeds.elf["mini_debuginfo"]
    packed = section_bytes(seed, ".gnu_debugdata")
    if data.draw(st.booleans(), label="mutate the embedded ELF"):
        inner = lzma.decompress(packed)
        inner = apply(inner, data.draw(mutations(len(inner), elf_fields(inner))))
        packed = lzma.compress(inner, format=lzma.FORMAT_XZ)
    else:
        packed = apply(packed, data.draw(mutations(len(packed))))
    image = splice(seed, ".gnu_debugdata", packed)

    def body(case: Case) -> None:
        elf = _elf(case, image)
        table = case.step(mini_debuginfo_symbols, elf) if elf is not None else None
        if table is not None:
            for address in addresses(seeds.elf["c_dwarf5"], 16):
                table.lookup(address)

    run_case("gnu_debugdata", (ElfError,), len(image), body)


@fuzz_settings()
@given(data=st.data())
def test_vdso_image(seeds, data):
    seed = seeds.vdso
    image = apply(seed, data.draw(mutations(len(seed), elf_fields(seed))))

    def body(case: Case) -> None:
        exercise_symbols(case, image, seed)
        exercise_unwind_info(case, image, seed)

    run_case("vdso", (ElfError, CfiError), len(image), body)


@fuzz_settings()
@given(data=st.data())
def test_kernel_notes(seeds, data):
    seed = seeds.kernel_notes
    fields = [(at, 4) for at in range(0, len(seed), 4)]
    raw = apply(seed, data.draw(mutations(len(seed), fields)))
    run_case(
        "kernel_notes",
        (ElfError,),
        len(raw),
        lambda case: case.step(lambda: gnu_build_id(parse_notes(raw, "="))),
    )
