"""The one ELF reader: headers, program and section headers, notes, build id, debuglink.

A small reader of our own (``struct`` over ``pread``) instead of pyelftools: it reads only the ELF
header, the program and section headers and the few notes we need, so opening a 100 MB library
costs a handful of small reads. Both ELF classes and byte orders are understood.

The bytes come from a profiled target, so the reader is total: every read is checked against the
file's real size (``fstat`` when opened), header counts and entry sizes are checked before they
are used, names are capped, and anything malformed raises :class:`ElfError` (``NotElfError``
when the bytes are not ELF at all), never ``struct.error``, ``OverflowError`` or the like.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

from .address import segment_for
from .errors import ElfError, NotElfError
from .notes import NT_GNU_BUILD_ID, Note, gnu_build_id, parse_notes

__all__ = [
    "NT_GNU_BUILD_ID",
    "AddressSpace",
    "ElfError",
    "ElfFile",
    "NotElfError",
    "Section",
    "Segment",
]

PT_LOAD = 1
PT_NOTE = 4
PF_X = 1
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_DYNSYM = 11
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800
ET_REL = 1
ET_EXEC = 2
ET_DYN = 3

_MAGIC = b"\x7fELF"
_PN_XNUM = 0xFFFF  # e_phnum escape: the real count is in section 0's sh_info
_SHN_XINDEX = 0xFFFF  # e_shstrndx escape: the real index is in section 0's sh_link
# Limits no real file reaches (linked files have tens of sections and ~10 program headers; a
# -ffunction-sections object may have 100 000 sections, but we never read objects).
MAX_SECTIONS = 1 << 17
MAX_SEGMENTS = 1 << 16
MAX_SECTION_NAME = 256  # bytes; longer names are cut (we only look up short, known names)
MAX_NOTES_SIZE = 1 << 20  # bytes of note blocks read to find the build id
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
# Header layouts: (ehdr tail from offset 16, phdr, shdr) and the smallest valid entry sizes.
_LAYOUT = {
    True: ("HHIQQQIHHHHHH", "IIQQQQQQ", "IIQQQQIIQQ", 64, 56, 64),
    False: ("HHIIIIIHHHHHH", "IIIIIIII", "IIIIIIIIII", 52, 32, 40),
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A program header (``Elf*_Phdr``)."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    @property
    def executable(self) -> bool:
        """Whether the segment is mapped executable (``PF_X``)."""
        return bool(self.flags & PF_X)


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
    """Random-access reads from an open regular file (we own ``fd``)."""

    def __init__(self, fd: int, size: int, identity: tuple[int, int, int, int]) -> None:
        self.fd = fd
        self.size = size
        self.identity = identity

    def read(self, offset: int, size: int) -> bytes:
        chunks = []
        while size > 0:
            chunk = os.pread(self.fd, size, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
        if size:
            raise ElfError("file shrank while being read")
        return b"".join(chunks)


class _BytesReader:
    """Random-access reads from an in-memory image (the vdso, MiniDebugInfo)."""

    identity = None

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


def _regular_file(fd: int, name: str) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ElfError(f"{name}: not a regular file (mode {stat.filemode(st.st_mode)})")
    return st


class ElfFile:
    """An ELF file's headers, and section contents read on demand.

    Open one with :meth:`open` or :meth:`from_fd` (context managers that close the file
    descriptor exactly once) or :meth:`from_bytes`. ``build_id`` is the lower-case hex GNU build
    id or ``""``; ``debuglink`` is ``(file name, crc32)`` from ``.gnu_debuglink`` or ``None``;
    ``byte_order`` is the ``struct`` prefix of the file's byte order (``"<"`` or ``">"``);
    ``size`` is the file's size, which bounds every read.

    Raises :class:`ElfError` (:class:`NotElfError` for bytes that are not ELF) for anything
    malformed, truncated or out of bounds, here and in every method; ``OSError`` for I/O.
    """

    def __init__(self, reader: _FileReader | _BytesReader, name: str) -> None:
        self._reader = reader
        self.name = name
        self.size = reader.size
        ident = reader.read(0, min(64, reader.size))
        if len(ident) < 52 or ident[:4] != _MAGIC:
            raise NotElfError(f"{name}: not an ELF file")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ElfError(f"{name}: bad ELF class {ident[4]} or data encoding {ident[5]}")
        self.is64 = ident[4] == 2
        self.little_endian = ident[5] == 1
        self.byte_order = "<" if self.little_endian else ">"
        ehdr, self._phdr, self._shdr, ehsize, self._phsize, self._shsize = _LAYOUT[self.is64]
        if len(ident) < ehsize:
            raise ElfError(f"{name}: truncated ELF header")
        (self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         shstrndx) = struct.unpack_from(self.byte_order + ehdr, ident, 16)  # fmt: skip
        first = self._first_section(shoff, shentsize)
        if phnum == _PN_XNUM and first is not None:
            phnum = first[7]  # sh_info
        self.segments = self._read_segments(phoff, phentsize, phnum)
        self.sections = self._read_sections(shoff, shentsize, shnum, shstrndx, first)
        self._by_name: dict[str, Section] = {}
        for s in self.sections:
            self._by_name.setdefault(s.name, s)
        self.build_id = gnu_build_id(self.notes())
        self.debuglink = self._find_debuglink()

    @classmethod
    def open(cls, path: str) -> ElfFile:
        """Open ``path`` (a regular file only) and read its headers; a context manager.

        The file is first opened with ``O_PATH`` (which never blocks and runs no device driver),
        checked to be a regular file, then reopened for reading through ``/proc/self/fd``: a
        FIFO, a device such as ``/dev/zero`` or a socket raises :class:`ElfError` unopened.
        """
        probe = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            _regular_file(probe, path)
            fd = os.open(f"/proc/self/fd/{probe}", _OPEN_FLAGS)
        finally:
            os.close(probe)
        return cls.from_fd(fd, path)

    @classmethod
    def from_fd(cls, fd: int, name: str) -> ElfFile:
        """Take ownership of ``fd`` (opened by the caller, e.g. with ``openat2``) and read it.

        ``fd`` must be a regular file (checked with ``fstat``); it is closed on any error and by
        :meth:`close` otherwise.
        """
        try:
            st = _regular_file(fd, name)
            identity = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            return cls(_FileReader(fd, st.st_size, identity), name)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<memory>") -> ElfFile:
        """Parse an ELF image held in memory (nothing to close)."""
        return cls(_BytesReader(bytes(data)), name)

    def identity(self) -> tuple[int, int, int, int] | None:
        """``(st_dev, st_ino, st_mtime_ns, st_size)`` of the file when opened; ``None`` for an
        image in memory."""
        return self._reader.identity

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

    # -- bounded reads -------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at file ``offset``; :class:`ElfError` if they are not all in the file."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfError(
                f"{self.name}: read of {size:#x} bytes at {offset:#x} is outside the file "
                f"({self.size:#x} bytes)"
            )
        return self._reader.read(offset, size)

    def read_section(self, section: Section) -> bytes:
        """A section's bytes (empty for SHT_NOBITS, as in a debug file's ``.text``).

        Compressed sections (``SHF_COMPRESSED``) come as stored; see
        ``profiler.elf.compressed.section_data`` to inflate them.
        """
        if section.type == SHT_NOBITS:
            return b""
        return self.read(section.offset, section.size)

    # -- headers -------------------------------------------------------------------------------

    def _table(self, offset: int, entsize: int, count: int, minimum: int, what: str) -> bytes:
        """The raw bytes of a header table, after checking its geometry against the file."""
        if entsize < minimum:
            raise ElfError(f"{self.name}: {what} entry size {entsize} < {minimum}")
        if offset + entsize * count > self.size:
            raise ElfError(f"{self.name}: {count} {what}s at {offset:#x} run past the file end")
        return self.read(offset, entsize * count)

    def _first_section(self, shoff: int, shentsize: int) -> tuple[int, ...] | None:
        """Section header 0 (it holds the escaped counts), or ``None`` without a table."""
        if not shoff:
            return None
        raw = self._table(shoff, shentsize, 1, self._shsize, "section header")
        return struct.unpack_from(self.byte_order + self._shdr, raw, 0)

    def _read_segments(self, phoff: int, phentsize: int, phnum: int) -> list[Segment]:
        if not phoff or not phnum:
            return []
        if phnum > MAX_SEGMENTS:
            raise ElfError(f"{self.name}: {phnum} program headers (limit {MAX_SEGMENTS})")
        raw = self._table(phoff, phentsize, phnum, self._phsize, "program header")
        unpack = struct.Struct(self.byte_order + self._phdr).unpack_from
        segments = []
        for i in range(phnum):
            if self.is64:
                p_type, p_flags, off, vaddr, _, filesz, memsz, _ = unpack(raw, i * phentsize)
            else:
                p_type, off, vaddr, _, filesz, memsz, p_flags, _ = unpack(raw, i * phentsize)
            segments.append(Segment(p_type, p_flags, off, vaddr, filesz, memsz))
        return segments

    def _read_sections(
        self,
        shoff: int,
        shentsize: int,
        shnum: int,
        shstrndx: int,
        first: tuple[int, ...] | None,
    ) -> list[Section]:
        if first is None:
            return []
        if shnum == 0:  # more than 0xff00 sections: the real count is in section 0's sh_size
            shnum = first[5]
        if shnum > MAX_SECTIONS:
            raise ElfError(f"{self.name}: {shnum} sections (limit {MAX_SECTIONS})")
        raw = self._table(shoff, shentsize, shnum, self._shsize, "section header")
        unpack = struct.Struct(self.byte_order + self._shdr).unpack_from
        headers = [unpack(raw, i * shentsize) for i in range(shnum)]
        if shstrndx == _SHN_XINDEX and headers:
            shstrndx = headers[0][6]  # sh_link
        names = b""
        if 0 < shstrndx < len(headers) and headers[shstrndx][1] != SHT_NOBITS:
            names = self.read(headers[shstrndx][4], headers[shstrndx][5])
        sections = []
        for name_off, s_type, flags, addr, offset, size, link, _, align, entsize in headers:
            end = names.find(b"\0", name_off, name_off + MAX_SECTION_NAME)
            if end < 0:
                end = min(len(names), name_off + MAX_SECTION_NAME)
            name = names[name_off:end].decode("utf-8", "replace")
            sections.append(Section(name, s_type, flags, addr, offset, size, link, entsize, align))
        return sections

    def notes(self) -> list[Note]:
        """All notes, from SHT_NOTE sections, else PT_NOTE segments (at most 1 MiB of them)."""
        blocks = [(s.offset, s.size, s.addralign) for s in self.sections if s.type == SHT_NOTE]
        if not blocks:
            blocks = [(p.offset, p.filesz, 4) for p in self.segments if p.type == PT_NOTE]
        if sum(size for _, size, _ in blocks) > MAX_NOTES_SIZE:
            raise ElfError(f"{self.name}: more than {MAX_NOTES_SIZE} bytes of notes")
        notes: list[Note] = []
        for offset, size, align in blocks:
            try:
                notes += parse_notes(self.read(offset, size), self.byte_order, align)
            except ElfError as e:
                raise ElfError(f"{self.name}: {e}") from None
        return notes

    def _find_debuglink(self) -> tuple[str, int] | None:
        section = self._by_name.get(".gnu_debuglink")
        if section is None:
            return None
        if section.size > 4096:  # a file name and a CRC: anything longer is not a debuglink
            raise ElfError(f"{self.name}: .gnu_debuglink of {section.size} bytes")
        raw = self.read_section(section)
        end = raw.find(b"\0")
        if end <= 0:
            return None
        crc_at = (end + 1 + 3) & ~3  # the CRC follows the name, padded to 4 bytes
        crc = 0
        if crc_at + 4 <= len(raw):
            crc = struct.unpack_from(self.byte_order + "I", raw, crc_at)[0]
        return raw[:end].decode("utf-8", "surrogateescape"), crc

    # -- queries ------------------------------------------------------------------------------

    def section(self, name: str) -> Section | None:
        """The (first) section called ``name``, or ``None``."""
        return self._by_name.get(name)

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
    file offset ``addr - start + off``; the PT_LOAD segment mapped there (``profiler.elf.address``,
    the rule the unwinder uses too) gives ``vaddr = p_vaddr + (file_offset - p_offset)``. This is
    right for non-PIE executables, PIE, shared libraries, and layouts (rust-lld, lld) where
    code's offset and address differ.
    """

    loads: tuple[Segment, ...]

    @classmethod
    def of(cls, elf: ElfFile) -> AddressSpace:
        """The address space of ``elf`` (executable segments listed first)."""
        loads = sorted(elf.load_segments(), key=lambda p: (not p.flags & PF_X, p.offset))
        return cls(tuple(loads))

    def file_offset_to_vaddr(self, file_offset: int, executable: bool | None = None) -> int | None:
        """The ELF virtual address of ``file_offset``, or ``None`` if no PT_LOAD maps it.

        ``executable``: whether the mapping holding it is executable, when the caller knows.
        """
        seg = segment_for(self.loads, file_offset, executable)
        return None if seg is None else seg.vaddr + (file_offset - seg.offset)
