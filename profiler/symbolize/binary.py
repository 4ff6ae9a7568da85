"""One ELF image (a file or the vdso) and what we learned of it, shared by every process mapping it.

A :class:`Binary` is created from the ELF headers alone (build id, PT_LOAD segments, debuglink).
Its symbol table, separate debug file and DWARF are loaded the first time an address in it is
symbolized, and each symbolized virtual address is cached: processes and intervals repeat the
same addresses over and over.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..elf.errors import FormatError
from ..elf.file import AddressSpace, ElfFile
from ..elf.symbols import SymbolTable
from ..process.files import FileSource
from .debug_files import DebugFileFinder
from .go_pclntab import go_symbol_table
from .mini_debuginfo import mini_debuginfo_symbols
from .plt import PltTable, plt_table
from .stats import SymbolizerStats

# A symbolized address: (function, file, line, inlined) tuples innermost first; empty if unknown.
SourceLines = tuple[tuple[str, str, int, bool], ...]

MAX_CACHED_ADDRESSES = 1 << 13  # per binary; the cache is cleared when it grows past this
MAX_SOURCES = 8  # places remembered to read a binary from, until its symbols are loaded
MAX_ELF_SIZE = 4 << 30  # a mapped file larger than this is not read


def _namer(table: SymbolTable | None) -> Callable[[int], str | None]:
    """``vaddr -> name`` through ``table`` (for naming IFUNC PLT stubs by their resolver)."""

    def name(vaddr: int) -> str | None:
        found = table.lookup(vaddr) if table is not None else None
        return found[0] if found is not None and found[1] == vaddr else None

    return name


def _dwarf_class() -> type | None:
    """``DwarfInfo`` from the sibling ``dwarf`` module, or ``None`` while it is absent."""
    try:
        from .dwarf import DwarfInfo
    except ImportError:
        return None
    return DwarfInfo


class Binary:
    """One ELF image: address translation, symbols (lazy), DWARF (lazy), and a result cache."""

    def __init__(
        self,
        elf: ElfFile,
        sources: list[FileSource],
        *,
        finder: DebugFileFinder,
        demangle: Callable[[str], str],
        counters: SymbolizerStats,
        display_path: str = "",
        pid: int | None = None,
        proc: str = "/proc",
        use_dwarf: bool = True,
        dwarf_from_debug_files: bool = True,
    ) -> None:
        """``elf``: the opened headers (not kept open); ``sources``: where to reopen it, in
        order (none: an in-memory image such as the vdso); ``pid``: the process whose root the
        binary's own paths (debuglinks) are resolved in."""
        self.build_id = elf.build_id
        self.address_space = AddressSpace.of(elf)
        self.debuglink = elf.debuglink
        self.display_path = display_path or elf.name
        self._sources = list(sources)
        self._pid = pid
        self._proc = proc
        self._finder = finder
        self._demangle = demangle
        self._counters = counters
        self._use_dwarf = use_dwarf
        self._dwarf_from_debug_files = use_dwarf and dwarf_from_debug_files
        self._image_elf = elf if not sources else None  # an in-memory image (vdso): no file
        self._has_symtab = elf.has_symtab()
        self._has_debug_info = elf.has_debug_info()
        self._loaded = False
        self.symbols: SymbolTable | None = None
        self.debug_file: FileSource | None = None
        self.dwarf: object | None = None
        self._plt: PltTable | None = None
        self._dwarf_source: FileSource | None = None  # DWARF to open on the first lookup
        self.symbol_source = ""
        self._cache: dict[int, SourceLines] = {}

    def add_sources(self, sources: list[FileSource]) -> None:
        """More places to read this binary from (another process maps the same build id).

        Newest first: the process that just mapped it is the likeliest to still be alive.
        """
        if self._loaded:
            return
        fresh = [src for src in sources if src not in self._sources]
        self._sources = (fresh + self._sources)[:MAX_SOURCES]

    @property
    def loaded(self) -> bool:
        """Whether the symbol table (and DWARF) have been loaded."""
        return self._loaded

    def vaddr(self, file_offset: int) -> int:
        """The ELF virtual address of a file offset (the offset itself if no segment holds it)."""
        vaddr = self.address_space.file_offset_to_vaddr(file_offset)
        return file_offset if vaddr is None else vaddr

    def load(self) -> None:
        """Load symbols now: ``.symtab``/``.gopclntab``, else the debug file's, else ``.dynsym``.

        The DWARF to use is chosen here and opened on the first lookup.
        """
        if self._loaded:
            return
        self._loaded = True
        dynsym: SymbolTable | None = None
        opened: FileSource | None = None
        identity: tuple[int, int] | None = None
        if self._image_elf is not None:
            try:  # the vdso image comes from the target's (writable) memory
                self.symbols = SymbolTable.from_elf(self._image_elf)
            except FormatError:
                self._counters.unreadable += 1
            self.symbol_source = "image " + (self.symbols.source if self.symbols else "")
            self._image_elf = None
        else:
            opened, identity, table = self._load_from_file()
            if table is not None and table.source in (".symtab", ".gopclntab", ".gnu_debugdata"):
                self.symbols, self.symbol_source = table, table.source
            else:
                dynsym = table
        need_debug_file = self.symbols is None or (
            self._dwarf_from_debug_files and not self._has_debug_info
        )
        if need_debug_file and (self.build_id or self.debuglink):
            self.debug_file = self._finder.find(
                self.display_path,
                self.build_id,
                self.debuglink,
                pid=self._pid,
                proc=self._proc,
                binary_identity=identity,
            )
        debug_has_dwarf = False
        if self.debug_file is not None:
            self._counters.debug_files += 1
            try:
                fd = self.debug_file.open(MAX_ELF_SIZE)
                with ElfFile.from_fd(fd, self.debug_file.label) as debug:
                    debug_has_dwarf = debug.has_debug_info()
                    if self.symbols is None:
                        self.symbols = SymbolTable.from_elf(debug, allow_dynsym=False)
                        self.symbol_source = "debug file .symtab" if self.symbols else ""
            except (OSError, FormatError):
                self.debug_file = None
        if self.symbols is None and dynsym is not None:
            self.symbols, self.symbol_source = dynsym, ".dynsym"
        if self.symbols is not None:
            self._counters.symbol_tables += 1
        # DWARF is opened on the first lookup, not here: snapshots load symbol tables of every
        # binary a process maps, but samples hit few of them, and a DWARF index is costly.
        if self._use_dwarf:
            if debug_has_dwarf and self._dwarf_from_debug_files:
                self._dwarf_source = self.debug_file
            elif self._has_debug_info and opened is not None:
                self._dwarf_source = opened

    def _load_from_file(
        self,
    ) -> tuple[FileSource | None, tuple[int, int] | None, SymbolTable | None]:
        """Open the first readable source whose build id matches; read its symbol table."""
        for source in self._sources:
            try:
                fd = source.open(MAX_ELF_SIZE)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                with ElfFile.from_fd(fd, source.label) as elf:
                    if self.build_id and elf.build_id != self.build_id:
                        continue  # replaced on disk since the process mapped it
                    table = SymbolTable.from_elf(elf)
                    if table is None or table.source != ".symtab":
                        # A stripped Go binary still names every function in its pc-line table.
                        table = go_symbol_table(elf) or table
                    if table is None or table.source == ".dynsym":
                        mini = mini_debuginfo_symbols(elf)
                        if mini is not None:  # it holds what .dynsym lacks: use both
                            parts = [mini] if table is None else [table, mini]
                            table = SymbolTable.merged(parts, ".gnu_debugdata")
                    self._plt = plt_table(elf, _namer(table))
                    return source, (st.st_dev, st.st_ino), table
            except (OSError, FormatError):
                continue
        self._counters.unreadable += 1
        return None, None, None

    def _load_dwarf(self) -> None:
        source, self._dwarf_source = self._dwarf_source, None
        dwarf_info = _dwarf_class() if source is not None else None
        if dwarf_info is None or source is None:
            return
        try:
            fd = source.open(MAX_ELF_SIZE)
        except OSError:
            self._counters.dwarf_errors += 1
            return
        try:
            with ElfFile.from_fd(fd, source.label) as elf:
                # The DWARF sections are read (bounded) into memory: the file closes at once.
                self.dwarf = dwarf_info.for_elf(elf)
        except (OSError, FormatError):  # bad DWARF must not stop symbolization by symbols
            self._counters.dwarf_errors += 1
            self.dwarf = None
        if self.dwarf is not None:
            self._counters.dwarf += 1

    def lines(self, vaddr: int) -> SourceLines:
        """``(function, file, line, inlined)`` for ``vaddr``, innermost first; ``()`` if unknown."""
        cached = self._cache.get(vaddr)
        if cached is not None:
            return cached
        if not self._loaded:
            self.load()
        if self._dwarf_source is not None:
            self._load_dwarf()
        result = self._symbolize(vaddr)
        if len(self._cache) >= MAX_CACHED_ADDRESSES:
            self._cache.clear()
        self._cache[vaddr] = result
        return result

    def _symbolize(self, vaddr: int) -> SourceLines:
        symbol = self.symbols.lookup(vaddr) if self.symbols is not None else None
        if symbol is None and self._plt is not None:
            stub = self._plt.lookup(vaddr)
            if stub is not None:
                return ((self._demangle(stub[0].removesuffix("@plt")) + "@plt", "", 0, False),)
        name = self._demangle(symbol[0]) if symbol is not None else ""
        source = ()
        if self.dwarf is not None:
            try:
                source = self.dwarf.frames(vaddr)  # type: ignore[attr-defined]
            except FormatError:  # one bad DIE must not stop symbolization by symbols
                self._counters.dwarf_errors += 1
                source = ()
        if source:
            lines = [
                (self._demangle(f.function) if f.function else "", f.file or "", f.line or 0,
                 bool(f.inlined))
                for f in source
            ]  # fmt: skip
            # The outermost function: the symbol table's full (demangled linkage) name is more
            # precise than DWARF's DW_AT_name, which is often unqualified.
            function, file, line, inlined = lines[-1]
            if name and not inlined:
                lines[-1] = (name, file, line, inlined)
            elif not function:
                lines[-1] = (name or "[unknown]", file, line, inlined)
            return tuple(lines)
        if symbol is None:
            return ()
        return ((name, "", 0, False),)

    def close(self) -> None:
        """Release what the DWARF reader holds (if it holds anything) and the caches."""
        closer = getattr(self.dwarf, "close", None)
        if callable(closer):
            closer()
        self.dwarf = None
        self._cache.clear()
