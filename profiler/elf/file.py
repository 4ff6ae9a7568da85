"""The parts of an ELF file a symbolizer needs: headers, build id, debuglink, address translation.

A small reader of our own (``struct`` over ``pread``) instead of pyelftools: it reads only the ELF
header, the program and section headers and the few notes we need, so opening a 100 MB library
costs a handful of small reads. Both ELF classes and byte orders are understood.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

PT_LOAD = 1
PT_NOTE = 4
PF_X = 1
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_DYNSYM = 11
SHF_EXECINSTR = 0x4
NT_GNU_BUILD_ID = 3
ET_EXEC = 2
ET_DYN = 3

_MAGIC = b"\x7fELF"


class NotElfError(ValueError):
    """The bytes are not an ELF file (or are truncated before its headers)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A program header (``Elf*_Phdr``)."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class Section:
    """A section header (``Elf*_Shdr``) with its name resolved."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int
    addralign: int


class _FileReader:
    """Random-access reads from an open file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, offset: int, size: int) -> bytes:
        chunks = []
        while size > 0:
            chunk = os.pread(self.fd, size, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
        return b"".join(chunks)


class _BytesReader:
    """Random-access reads from an in-memory image (the vdso)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


class ElfFile:
    """An ELF file's headers, and section contents read on demand.

    Open one with :meth:`open` (a context manager that closes the file descriptor exactly once)
    or :meth:`from_bytes`. ``build_id`` is the lower-case hex GNU build id or ``""``;
    ``debuglink`` is ``(file name, crc32)`` from ``.gnu_debuglink`` or ``None``.
    """

    def __init__(self, reader: _FileReader | _BytesReader, name: str) -> None:
        self._reader = reader
        self.name = name
        ident = reader.read(0, 64)
        if len(ident) < 52 or ident[:4] != _MAGIC:
            raise NotElfError(f"{name}: not an ELF file")
        self.is64 = ident[4] == 2
        self.little_endian = ident[5] == 1
        self._bo = "<" if self.little_endian else ">"
        bo = self._bo
        if self.is64:
            (self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
             shstrndx) = struct.unpack_from(bo + "HHIQQQIHHHHHH", ident, 16)  # fmt: skip
        else:
            (self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
             shstrndx) = struct.unpack_from(bo + "HHIIIIIHHHHHH", ident, 16)  # fmt: skip
        self.segments = self._read_segments(phoff, phentsize, phnum)
        self.sections = self._read_sections(shoff, shentsize, shnum, shstrndx)
        self._by_name = {s.name: s for s in self.sections}
        self.build_id = self._find_build_id()
        self.debuglink = self._find_debuglink()

    @classmethod
    def open(cls, path: str) -> ElfFile:
        """Open ``path`` and read its headers; a context manager, or call ``close()``."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return cls(_FileReader(fd), path)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_fd(cls, fd: int, name: str) -> ElfFile:
        """Read the headers of an open file; takes ownership of ``fd`` (closed by ``close()``)."""
        try:
            return cls(_FileReader(fd), name)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<memory>") -> ElfFile:
        """Parse an ELF image held in memory (nothing to close)."""
        return cls(_BytesReader(bytes(data)), name)

    def close(self) -> None:
        """Close the file descriptor (once; later calls do nothing)."""
        reader = self._reader
        if isinstance(reader, _FileReader) and reader.fd >= 0:
            fd, reader.fd = reader.fd, -1
            os.close(fd)

    def __enter__(self) -> ElfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- headers -------------------------------------------------------------------------------

    def _read_segments(self, phoff: int, phentsize: int, phnum: int) -> list[Segment]:
        if not phoff or not phnum:
            return []
        raw = self._reader.read(phoff, phentsize * phnum)
        segments = []
        for i in range(min(phnum, len(raw) // phentsize)):
            if self.is64:
                p_type, p_flags, off, vaddr, _, filesz, memsz, _ = struct.unpack_from(
                    self._bo + "IIQQQQQQ", raw, i * phentsize
                )
            else:
                p_type, off, vaddr, _, filesz, memsz, p_flags, _ = struct.unpack_from(
                    self._bo + "IIIIIIII", raw, i * phentsize
                )
            segments.append(Segment(p_type, p_flags, off, vaddr, filesz, memsz))
        return segments

    def _read_sections(
        self, shoff: int, shentsize: int, shnum: int, shstrndx: int
    ) -> list[Section]:
        if not shoff or not shentsize:
            return []
        if shnum == 0:  # more than 0xff00 sections: the real count is in section 0's sh_size
            first = self._unpack_section(self._reader.read(shoff, shentsize), 0)
            shnum = first[5]
        raw = self._reader.read(shoff, shentsize * shnum)
        headers = [self._unpack_section(raw, i * shentsize) for i in range(len(raw) // shentsize)]
        if shstrndx == 0xFFFF and headers:  # SHN_XINDEX: the index is in section 0's sh_link
            shstrndx = headers[0][6]
        names = b""
        if 0 < shstrndx < len(headers):
            h = headers[shstrndx]
            names = self._reader.read(h[4], h[5])
        sections = []
        for name_off, s_type, flags, addr, offset, size, link, align, entsize in headers:
            end = names.find(b"\0", name_off)
            name = names[name_off : end if end >= 0 else len(names)].decode("utf-8", "replace")
            sections.append(Section(name, s_type, flags, addr, offset, size, link, entsize, align))
        return sections

    def _unpack_section(self, raw: bytes, at: int) -> tuple[int, ...]:
        if self.is64:
            name, s_type, flags, addr, offset, size, link, _, align, entsize = struct.unpack_from(
                self._bo + "IIQQQQIIQQ", raw, at
            )
        else:
            name, s_type, flags, addr, offset, size, link, _, align, entsize = struct.unpack_from(
                self._bo + "IIIIIIIIII", raw, at
            )
        return name, s_type, flags, addr, offset, size, link, align, entsize

    def _notes(self) -> list[tuple[str, int, bytes]]:
        """All notes as (name, type, desc), from SHT_NOTE sections, else PT_NOTE segments."""
        blocks = [(s.offset, s.size, s.addralign) for s in self.sections if s.type == SHT_NOTE]
        if not blocks:
            blocks = [(p.offset, p.filesz, 4) for p in self.segments if p.type == PT_NOTE]
        notes = []
        for offset, size, align in blocks:
            align = 8 if align == 8 else 4
            raw = self._reader.read(offset, size)
            at = 0
            while at + 12 <= len(raw):
                namesz, descsz, n_type = struct.unpack_from(self._bo + "III", raw, at)
                at += 12
                name = raw[at : at + namesz].rstrip(b"\0").decode("ascii", "replace")
                at += (namesz + align - 1) & ~(align - 1)
                desc = raw[at : at + descsz]
                at += (descsz + align - 1) & ~(align - 1)
                notes.append((name, n_type, desc))
        return notes

    def _find_build_id(self) -> str:
        for name, n_type, desc in self._notes():
            if name == "GNU" and n_type == NT_GNU_BUILD_ID and desc:
                return desc.hex()
        return ""

    def _find_debuglink(self) -> tuple[str, int] | None:
        section = self._by_name.get(".gnu_debuglink")
        if section is None:
            return None
        raw = self.read_section(section)
        end = raw.find(b"\0")
        if end <= 0:
            return None
        crc_at = (end + 1 + 3) & ~3  # the CRC follows the name, padded to 4 bytes
        crc = struct.unpack_from(self._bo + "I", raw, crc_at)[0] if crc_at + 4 <= len(raw) else 0
        return raw[:end].decode("utf-8", "surrogateescape"), crc

    # -- queries ------------------------------------------------------------------------------

    def section(self, name: str) -> Section | None:
        """The section called ``name``, or ``None``."""
        return self._by_name.get(name)

    def read_section(self, section: Section) -> bytes:
        """A section's bytes (empty for SHT_NOBITS, as in a debug file's ``.text``)."""
        if section.type == SHT_NOBITS:
            return b""
        return self._reader.read(section.offset, section.size)

    def has_debug_info(self) -> bool:
        """Whether the file carries DWARF line or debug info (with contents, not NOBITS)."""
        return any(
            s.name in (".debug_info", ".debug_line", ".zdebug_info", ".zdebug_line")
            and s.type != SHT_NOBITS
            and s.size > 0
            for s in self.sections
        )

    def has_symtab(self) -> bool:
        """Whether the file has a non-empty ``.symtab``."""
        return any(s.type == SHT_SYMTAB and s.size > 0 for s in self.sections)

    def load_segments(self) -> list[Segment]:
        """The PT_LOAD program headers."""
        return [p for p in self.segments if p.type == PT_LOAD]


@dataclass(frozen=True, slots=True)
class AddressSpace:
    """Translate file offsets to ELF virtual addresses through the PT_LOAD program headers.

    A sampled address ``addr`` in a mapping ``[start, end)`` mapped from file offset ``off`` lies at
    file offset ``addr - start + off``; the PT_LOAD segment holding that offset gives
    ``vaddr = p_vaddr + (file_offset - p_offset)``. This is right for non-PIE executables, PIE,
    shared libraries, and layouts (rust-lld, lld) where code's offset and address differ.
    """

    loads: tuple[Segment, ...]

    @classmethod
    def of(cls, elf: ElfFile) -> AddressSpace:
        """The address space of ``elf``: executable segments first (they win on a shared page)."""
        loads = sorted(elf.load_segments(), key=lambda p: (not p.flags & PF_X, p.offset))
        return cls(tuple(loads))

    def file_offset_to_vaddr(self, file_offset: int) -> int | None:
        """The ELF virtual address of ``file_offset``, or ``None`` if no PT_LOAD covers it."""
        for p in self.loads:
            # Instructions live in the file-backed part of a segment (never in its .bss tail).
            if p.offset <= file_offset < p.offset + max(p.filesz, 1):
                return p.vaddr + (file_offset - p.offset)
        return None
