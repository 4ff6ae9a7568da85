"""Fuzzing the CFI readers: ``.eh_frame`` and ``.debug_frame`` parsing and interpretation, and
the lazy per-function parsing behind ``.eh_frame_hdr`` (whose lookups must never raise)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from profiler.elf.file import ElfFile
from profiler.unwind import cfi
from profiler.unwind.cfi import CfiError
from profiler.unwind.elf_binary import CfiSection, unwind_info_of
from profiler.unwind.lazy_table import LazyUnwindTable
from profiler.unwind.table import build_table, rows_of_fde

from .harness import Case, fuzz_settings, run_case
from .mutations import apply, cfi_fields, mutations
from .targets import addresses

MAX_FDES_RUN = 200


def _info(seed: bytes):
    return unwind_info_of(ElfFile.from_bytes(seed))


def exercise_section(case: Case, info, name: str, data: bytes, seed: bytes) -> None:
    """Parse every entry, run every FDE's program, build the table, look addresses up."""
    section = next(s for s in info.cfi if s.name == name)
    fdes = case.step(lambda: cfi.parse_cfi(data, section.addr, eh_frame=name == ".eh_frame"))
    for fde in (fdes or [])[:MAX_FDES_RUN]:
        case.step(cfi.run_fde, fde)
        case.step(rows_of_fde, fde, info.arch, {})
    mutated = replace(
        info,
        cfi=tuple(CfiSection(s.name, s.addr, data if s.name == name else s.data) for s in info.cfi),
        eh_frame_hdr=None,
    )
    table = case.step(build_table, mutated)
    if table is not None:
        for address in addresses(seed):
            table.lookup(address)
        table.packed()


def _seed(data: st.DataObject, seeds, name: str) -> bytes:
    images = seeds.with_section(name)
    return images[data.draw(st.sampled_from(sorted(images)), label="seed")]


@fuzz_settings()
@given(data=st.data())
def test_eh_frame(seeds, data):
    seed = _seed(data, seeds, ".eh_frame")
    info = _info(seed)
    raw = next(s.data for s in info.cfi if s.name == ".eh_frame")
    mutated = apply(raw, data.draw(mutations(len(raw), cfi_fields(raw, True))))
    run_case(
        "eh_frame",
        (CfiError,),
        len(mutated),
        lambda case: exercise_section(case, info, ".eh_frame", mutated, seed),
    )


@fuzz_settings()
@given(data=st.data())
def test_debug_frame(seeds, data):
    seed = _seed(data, seeds, ".debug_frame")
    info = _info(seed)
    raw = next(s.data for s in info.cfi if s.name == ".debug_frame")
    mutated = apply(raw, data.draw(mutations(len(raw), cfi_fields(raw, False))))
    run_case(
        "debug_frame",
        (CfiError,),
        len(mutated),
        lambda case: exercise_section(case, info, ".debug_frame", mutated, seed),
    )


@fuzz_settings()
@given(data=st.data())
def test_lazy_per_function_parsing(seeds, data):
    """A mutated ``.eh_frame`` and/or ``.eh_frame_hdr``: building the lazy table may raise
    ``CfiError``; its lookups (done while unwinding) never raise anything."""
    seed = _seed(data, seeds, ".eh_frame_hdr")
    info = _info(seed)
    eh = next(s for s in info.cfi if s.name == ".eh_frame")
    hdr = info.eh_frame_hdr
    which = data.draw(st.sampled_from(("eh_frame", "hdr", "both")), label="which")
    eh_data, hdr_data = eh.data, hdr.data
    if which in ("eh_frame", "both"):
        eh_data = apply(eh_data, data.draw(mutations(len(eh_data), cfi_fields(eh_data, True))))
    if which in ("hdr", "both"):
        table = [(at, 4) for at in range(0, len(hdr_data), 4)]
        hdr_data = apply(hdr_data, data.draw(mutations(len(hdr_data), table)))
    mutated = replace(
        info,
        cfi=(CfiSection(eh.name, eh.addr, eh_data),),
        eh_frame_hdr=CfiSection(hdr.name, hdr.addr, hdr_data),
    )

    def body(case: Case) -> None:
        lazy = case.step(LazyUnwindTable.from_info, mutated)
        if lazy is None:
            return
        for address in addresses(seed):
            lazy.lookup(address)
        for i in range(min(lazy.fde_count, MAX_FDES_RUN)):
            lazy.function_rows(i)

    run_case("eh_frame_lazy", (CfiError,), len(eh_data) + len(hdr_data), body)
