"""The fast raw-bytes readers (DIEs, line programs) give exactly what pyelftools' decoding gives."""

from __future__ import annotations

import os

import pytest

from profiler.symbolize import dwarf
from profiler.symbolize.dwarf import DwarfInfo
from profiler.symbolize.dwarf_dies import Sections, UnsupportedForm
from profiler.symbolize.dwarf_lines import LineStrings, LineTable
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
        assert (program is None) == (fast.stmt_list is None)
        if program is not None:
            strings = LineStrings(sections.line, sections.str, sections.line_str, sections.little)
            ours = LineTable.parse(strings, fast.stmt_list, fast.comp_dir)
            assert ours.rows() == _pyelftools_rows(program)
            assert ours.files == _pyelftools_paths(program, fast.comp_dir)
    return len(offsets)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _pyelftools_rows(program) -> list[tuple[int, int, int]]:
    """pyelftools' rows as our table keeps them: sorted, a sequence's end as line -1, file 0."""
    rows = []
    for entry in program.get_entries():
        state = entry.state
        if state is None:
            continue
        if state.end_sequence:
            rows.append((state.address, 0, len(rows), -1, 0))
        else:
            rows.append((state.address, 1, len(rows), state.line, state.file))
    return [(address, line, file) for address, _, _, line, file in sorted(rows)]


def _pyelftools_paths(program, comp_dir: str) -> list[str]:
    """The file table as paths (DWARF 5 numbers from 0, DWARF 2-4 from 1 with directory 0 the
    compilation directory), from pyelftools' decoding of the header."""
    header = program.header
    version = header["version"]
    dirs = [_text(d) for d in header.get("include_directory", ())]
    if version < 5:
        dirs = [comp_dir, *dirs]
    paths = [] if version >= 5 else [""]
    for entry in header.get("file_entry", ()):
        index = entry.dir_index
        directory = dirs[index] if 0 <= index < len(dirs) else ""
        if directory and not os.path.isabs(directory) and comp_dir:
            directory = os.path.join(comp_dir, directory)
        name = _text(entry.name)
        paths.append(os.path.join(directory, name) if directory else name)
    return paths


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
        raise UnsupportedForm("unsupported DWARF form DW_FORM_made_up")

    monkeypatch.setattr(CompileUnitIndex, "_walk_raw", unreadable)
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    assert [info.frames(a) for a in _work_addresses(binary)] == expected


def _work_addresses(binary: str) -> range:
    from elftools.elf.elffile import ELFFile

    with open(binary, "rb") as stream:
        symbol = ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("work")[0]
    return range(symbol["st_value"], symbol["st_value"] + symbol["st_size"])
