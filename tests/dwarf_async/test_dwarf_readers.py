"""The fast raw-bytes readers (DIEs, line programs) give exactly what pyelftools' decoding gives."""

from __future__ import annotations

import pytest

from profiler.symbolize import dwarf, dwarf_lines
from profiler.symbolize.dwarf import DwarfInfo
from profiler.symbolize.dwarf_dies import Sections
from profiler.symbolize.dwarf_units import CompileUnitIndex, ScopeNode

from .builds import build_c_program, build_tokio_app


def _shape(unit: CompileUnitIndex) -> tuple:
    """The unit's index as comparable data; a node with several ranges is encoded once."""
    keys: dict[int, int] = {}
    nodes: list[tuple] = []

    def visit(node: ScopeNode) -> int:
        if id(node) not in keys:
            keys[id(node)] = key = len(keys)
            children = sorted(node.children, key=lambda c: (c[0], c[1]))
            kids = [(lo, hi, visit(child)) for lo, hi, child in children]
            nodes.append((key, node.origin, node.call_file, node.call_line, kids))
        return keys[id(node)]

    functions = [(lo, hi, visit(node)) for lo, hi, node in unit.functions]
    return functions, sorted(nodes), unit.names, unit.comp_dir


def _compare_units(binary: str, limit: int | None = None) -> int:
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    sections = Sections(info._dwarf)
    # The small units, and the largest (tokio's): the pyelftools walk of all would take minutes.
    offsets = sorted(info._cu_offsets, key=lambda off: info._cus[off].size)
    if limit is not None:
        offsets = offsets[:limit] + offsets[-1:]
    for offset in offsets:
        cu = info._cus[offset]
        fast = CompileUnitIndex(cu, info._range_lists, sections)
        reference = CompileUnitIndex(cu, info._range_lists)
        assert _shape(fast) == _shape(reference), f"unit at {offset:#x}"
        program = info._dwarf.line_program_for_CU(cu)
        if program is not None:
            assert dwarf_lines._decode_rows(program) == dwarf_lines._rows_from_pyelftools(program)
    return len(offsets)


@pytest.mark.parametrize("version", [4, 5])
def test_c_program(tmp_path, version):
    assert _compare_units(build_c_program(tmp_path, version)) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["legacy", "v0_fp_dwarf5"])
def test_tokio_program(variant):
    assert _compare_units(build_tokio_app(variant), limit=12) == 13


def test_a_unit_the_fast_reader_cannot_read_falls_back_to_pyelftools(tmp_path, monkeypatch):
    binary = build_c_program(tmp_path, 5)
    dwarf.clear_cache()
    expected = [DwarfInfo.for_elf(binary).frames(a) for a in _work_addresses(binary)]
    assert any(len(frames) > 1 for frames in expected)

    def unreadable(self):
        raise ValueError("unsupported DWARF form DW_FORM_made_up")

    monkeypatch.setattr(CompileUnitIndex, "_walk_raw", unreadable)
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    assert [info.frames(a) for a in _work_addresses(binary)] == expected


def _work_addresses(binary: str) -> range:
    from elftools.elf.elffile import ELFFile

    with open(binary, "rb") as stream:
        symbol = ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("work")[0]
    return range(symbol["st_value"], symbol["st_value"] + symbol["st_size"])
