"""What the unwinder reads from an ELF file: build id, PT_LOAD segments and the CFI sections.

Also the address rule shared with the symbolizer: a runtime address in a mapping becomes an ELF
virtual address through the mapping's file offset and the PT_LOAD segment that holds that
offset, ``vaddr = p_vaddr + (addr - map_start + map_offset - p_offset)``. Linkers such as
rust-lld place code at a file offset different from its address, so ``addr - map_start`` alone
is wrong. (``profiler/symbolize/elf_file.py`` has its own copy of this rule.)
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

from .arch import Arch, arch_for_machine


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """One PT_LOAD program header."""

    offset: int
    vaddr: int
    filesz: int
    memsz: int
    executable: bool


@dataclass(frozen=True, slots=True)
class CfiSection:
    """The bytes of an ``.eh_frame`` or ``.debug_frame`` section and its address."""

    name: str
    addr: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ElfUnwindInfo:
    """Everything the table builder needs from one ELF file (read once, then the file is closed)."""

    build_id: str  # hex GNU build id, or "sha1:<hash of the file's CFI and headers>" if none
    arch: Arch
    segments: tuple[LoadSegment, ...]
    cfi: tuple[CfiSection, ...]  # .eh_frame first when present, then .debug_frame
    eh_frame_hdr: CfiSection | None = None  # its binary-search table allows lazy tables


def read_elf_unwind_info(source: str | bytes) -> ElfUnwindInfo:
    """Read build id, PT_LOADs and CFI sections from an ELF file path or its bytes."""
    if isinstance(source, bytes):
        return _read(io.BytesIO(source))
    with open(source, "rb") as stream:
        return _read(stream)


def _read(stream) -> ElfUnwindInfo:
    elf = ELFFile(stream)
    arch = arch_for_machine(elf["e_machine"])
    segments = tuple(
        LoadSegment(
            offset=seg["p_offset"],
            vaddr=seg["p_vaddr"],
            filesz=seg["p_filesz"],
            memsz=seg["p_memsz"],
            executable=bool(seg["p_flags"] & 1),
        )
        for seg in elf.iter_segments()
        if seg["p_type"] == "PT_LOAD"
    )
    build_id = ""
    hdr = elf.get_section_by_name(".eh_frame_hdr")
    eh_frame_hdr = None
    if hdr is not None and hdr["sh_type"] != "SHT_NOBITS" and hdr["sh_size"]:
        eh_frame_hdr = CfiSection(name=".eh_frame_hdr", addr=hdr["sh_addr"], data=hdr.data())
    cfi = []
    for name in (".eh_frame", ".debug_frame"):
        section = elf.get_section_by_name(name)
        if section is not None and section["sh_type"] != "SHT_NOBITS" and section["sh_size"]:
            cfi.append(CfiSection(name=name, addr=section["sh_addr"], data=section.data()))
    for section in elf.iter_sections():
        if section["sh_type"] != "SHT_NOTE":
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                build_id = note["n_desc"]
                break
        if build_id:
            break
    if not build_id:
        digest = hashlib.sha1()
        for sec in cfi:
            digest.update(sec.data)
        for seg in segments:
            digest.update(repr(seg).encode())
        build_id = "sha1:" + digest.hexdigest()
    return ElfUnwindInfo(
        build_id=build_id,
        arch=arch,
        segments=segments,
        cfi=tuple(cfi),
        eh_frame_hdr=eh_frame_hdr,
    )


def vaddr_bias(
    segments: tuple[LoadSegment, ...], map_start: int, map_offset: int, executable: bool = True
) -> int | None:
    """The constant to add to a runtime address in this mapping to get the ELF vaddr.

    The kernel maps each PT_LOAD from its page-aligned-down file offset, so with a linker that
    does not page-align segments (rust-lld, ``ld -z noseparate-code``) one file page can belong
    to two segments: the one whose permissions match the mapping (``executable``) wins.
    ``None`` when no PT_LOAD segment covers the mapping's file offset (not code of this file).
    """
    best = None
    best_key = None
    for seg in segments:
        if seg.offset & ~0xFFF <= map_offset < seg.offset + max(seg.filesz, 1):
            key = (seg.executable == executable, seg.offset)
            if best_key is None or key > best_key:
                best, best_key = seg, key
    if best is None:
        return None
    return best.vaddr - best.offset + map_offset - map_start
