"""What the unwinder reads from an ELF file: build id, PT_LOAD segments and the CFI sections.

Read with the one ELF reader (``profiler.elf.file.ElfFile``: bounded by the file's size, errors
as :class:`~profiler.elf.errors.ElfError`), and translated with the one address rule
(``profiler.elf.address``) that the symbolizer uses too: a runtime address in a mapping becomes
an ELF virtual address through the mapping's file offset and the PT_LOAD segment mapped there,
``vaddr = p_vaddr + (addr - map_start + map_offset - p_offset)``. Linkers such as rust-lld place
code at a file offset different from its address, so ``addr - map_start`` alone is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..elf.address import segment_for
from ..elf.compressed import section_data
from ..elf.errors import ElfError
from ..elf.file import SHT_NOBITS, ElfFile
from .arch import Arch, arch_for_machine

# e_machine numbers of the architectures the unwinder knows (pyelftools' names for arch.py).
_MACHINES = {62: "EM_X86_64", 183: "EM_AARCH64"}


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


def read_elf_unwind_info(source: str | bytes | ElfFile) -> ElfUnwindInfo:
    """Read build id, PT_LOADs and CFI sections from an ELF file path, its bytes, or an open
    ``ElfFile`` (left open).

    Raises :class:`~profiler.elf.errors.ElfError` for a malformed file or a machine the
    unwinder does not know, ``OSError`` if the file cannot be read.
    """
    if isinstance(source, ElfFile):
        return unwind_info_of(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return unwind_info_of(ElfFile.from_bytes(bytes(source), "<memory>"))
    with ElfFile.open(source) as elf:
        return unwind_info_of(elf)


def _section(elf: ElfFile, name: str) -> CfiSection | None:
    section = elf.section(name)
    if section is None or section.type == SHT_NOBITS or not section.size:
        return None
    return CfiSection(name=name, addr=section.addr, data=section_data(elf, section))


def unwind_info_of(elf: ElfFile) -> ElfUnwindInfo:
    """The :class:`ElfUnwindInfo` of an open ``ElfFile`` (see :func:`read_elf_unwind_info`)."""
    try:
        arch = arch_for_machine(_MACHINES.get(elf.machine, f"EM_{elf.machine}"))
    except ValueError as e:
        raise ElfError(f"{elf.name}: {e}") from None
    segments = tuple(
        LoadSegment(p.offset, p.vaddr, p.filesz, p.memsz, p.executable) for p in elf.load_segments()
    )
    cfi = tuple(s for s in (_section(elf, ".eh_frame"), _section(elf, ".debug_frame")) if s)
    build_id = elf.build_id
    if not build_id:
        import hashlib  # here: hashlib loads OpenSSL (3 MB), and most binaries have a build id

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
        cfi=cfi,
        eh_frame_hdr=_section(elf, ".eh_frame_hdr"),
    )


def vaddr_bias(
    segments: tuple[LoadSegment, ...], map_start: int, map_offset: int, executable: bool = True
) -> int | None:
    """The constant to add to a runtime address in this mapping to get the ELF vaddr.

    The segment is the one ``profiler.elf.address.segment_for`` finds at the mapping's file
    offset: with a linker that does not page-align segments (rust-lld, ``ld -z
    noseparate-code``) one file page can belong to two segments, and the one whose permissions
    match the mapping (``executable``) wins. ``None`` when no PT_LOAD segment covers the
    mapping's file offset (not code of this file).
    """
    seg = segment_for(segments, map_offset, executable)
    if seg is None:
        return None
    return seg.vaddr - seg.offset + map_offset - map_start
