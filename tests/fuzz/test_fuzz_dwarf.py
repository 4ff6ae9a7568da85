"""Fuzzing the DWARF readers: one section of a real binary's DWARF mutated at a time (the DIEs,
abbreviations, line programs, strings, address ranges), then the whole index built and
addresses looked up; and whole files through ``DwarfInfo.for_elf``. Only ``DwarfError`` (and
``ElfError`` for the file itself)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from profiler.elf.errors import ElfError
from profiler.elf.file import ElfFile
from profiler.symbolize.dwarf import DwarfInfo
from profiler.symbolize.dwarf_errors import DwarfError

from .harness import CASES, Case, fuzz_settings, run_case
from .mutations import apply, mutations, section_fields, unit_fields
from .targets import addresses, section_bytes

SECTIONS = (
    ".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_line_str",
    ".debug_str_offsets", ".debug_ranges", ".debug_rnglists", ".debug_aranges", ".debug_addr",
)  # fmt: skip
SMALL = ("c_dwarf5", "c_dwarf4", "cpp", "c_debug_frame", "libshared", "c_gz_dwarf")
LARGE = ("go", "rust_dwarf")  # megabytes of DWARF: fewer cases, lazy lookups only
# Reader name -> the sections it mutates.
READERS = {
    "debug_info": (".debug_info",),
    "debug_abbrev": (".debug_abbrev",),
    "debug_line": (".debug_line",),
    "debug_str": (".debug_str", ".debug_line_str", ".debug_str_offsets"),
    "debug_ranges": (".debug_ranges", ".debug_rnglists", ".debug_aranges", ".debug_addr"),
}
_UNITS = (".debug_info", ".debug_line", ".debug_aranges", ".debug_rnglists")

_SECTIONS_OF: dict[bytes, dict[str, bytes]] = {}


def dwarf_sections(seed: bytes) -> dict[str, bytes]:
    """The seed's (inflated) DWARF sections by name."""
    found = _SECTIONS_OF.get(seed)
    if found is None:
        found = {n: b for n in SECTIONS if (b := section_bytes(seed, n))}
        _SECTIONS_OF[seed] = found
    return found


def exercise(case: Case, sections: dict[str, bytes], seed: bytes, full: bool) -> None:
    """Index (all units when ``full``), look up the seed's function addresses, resolve names."""
    info = case.step(DwarfInfo.from_sections, sections, True, 8)
    if info is None:
        return
    if full:
        case.step(info.build_index)
    for address in addresses(seed, 48 if full else 6):
        case.step(info.frames, address)
    size = len(sections.get(".debug_info", b""))
    for offset in range(0, size, max(1, size // 16)):
        case.step(info.function_name, offset)


def _mutate(data: st.DataObject, seed: bytes, reader: str) -> dict[str, bytes]:
    sections = dict(dwarf_sections(seed))
    present = [n for n in READERS[reader] if n in sections]
    name = data.draw(st.sampled_from(present), label="section")
    raw = sections[name]
    fields = unit_fields(raw) if name in _UNITS else []
    sections[name] = apply(raw, data.draw(mutations(len(raw), fields), label="mutations"))
    return sections


def _seeds(seeds, names: tuple[str, ...], reader: str) -> list[str]:
    return [n for n in names if any(s in dwarf_sections(seeds.elf[n]) for s in READERS[reader])]


def _run(seeds, data, reader: str, names: tuple[str, ...], full: bool) -> None:
    name = data.draw(st.sampled_from(_seeds(seeds, names, reader)), label="seed")
    seed = seeds.elf[name]
    sections = _mutate(data, seed, reader)
    size = sum(len(b) for b in sections.values())
    run_case(reader, (DwarfError,), size, lambda case: exercise(case, sections, seed, full))


@fuzz_settings()
@given(data=st.data())
def test_debug_info(seeds, data):
    _run(seeds, data, "debug_info", SMALL, True)


@fuzz_settings()
@given(data=st.data())
def test_debug_abbrev(seeds, data):
    _run(seeds, data, "debug_abbrev", SMALL, True)


@fuzz_settings()
@given(data=st.data())
def test_debug_line(seeds, data):
    _run(seeds, data, "debug_line", SMALL, True)


@fuzz_settings()
@given(data=st.data())
def test_debug_str(seeds, data):
    _run(seeds, data, "debug_str", SMALL, True)


@fuzz_settings()
@given(data=st.data())
def test_debug_ranges(seeds, data):
    _run(seeds, data, "debug_ranges", SMALL, True)


@fuzz_settings(max(CASES // 20, 3))
@given(data=st.data())
def test_large_dwarf(seeds, data):
    """Go's and Rust's (std's) DWARF: megabytes, so a few cases, looked up lazily."""
    reader = data.draw(st.sampled_from(sorted(READERS)), label="reader")
    _run(seeds, data, reader, LARGE, False)


@fuzz_settings()
@given(data=st.data())
def test_dwarf_of_a_file(seeds, data):
    """Whole files: section headers of the DWARF sections (compressed ones too) mutated."""
    name = data.draw(st.sampled_from(SMALL), label="seed")
    seed = seeds.elf[name]
    fields = section_fields(seed, SECTIONS)
    image = apply(seed, data.draw(mutations(len(seed), fields)))

    def body(case: Case) -> None:
        elf = case.step(ElfFile.from_bytes, image, "fuzz")
        info = case.step(DwarfInfo.for_elf, elf) if elf is not None else None
        if info is not None:
            info.close()  # for_elf caches by build id: keep the next case honest
            for address in addresses(seed, 12):
                case.step(info.frames, address)

    run_case("dwarf_elf", (DwarfError, ElfError), len(image), body)
