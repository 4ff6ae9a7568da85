"""Unwind tables cached by build id, and the file -> build id memo in front of it.

Many processes map the same libc; containers map the same file under different paths. Tables
are keyed by build id so each binary is parsed once; a small memo keyed by the file's identity
(device, inode, size, mtime) avoids re-reading ELF headers for a path seen before.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..elf.errors import FormatError
from ..process.files import FileSource, HostFile

if TYPE_CHECKING:
    from .elf_binary import ElfUnwindInfo
    from .lazy_table import LazyUnwindTable
    from .table import UnwindTable

    Table = UnwindTable | LazyUnwindTable

VDSO = "[vdso]"
MAX_ELF_SIZE = 4 << 30  # a mapped file larger than this is not read


class TableCache:
    """Build-id-keyed cache of unwind tables (least recently used evicted past ``max_tables``).

    With ``lazy`` (the default, for user-space unwinding) a binary with an ``.eh_frame_hdr``
    gets a :class:`LazyUnwindTable` that parses each function's CFI on first use; otherwise the
    whole :class:`UnwindTable` is built at once. Files that are not ELF, cannot be read, or
    whose ELF headers or CFI are malformed (``OSError`` or a ``FormatError``: nothing broader)
    map to ``None`` (remembered too, so a bad file costs one ``fstat`` per lookup, not one parse).
    """

    def __init__(self, max_tables: int = 256, lazy: bool = True) -> None:
        self.max_tables = max_tables
        self.lazy = lazy
        self._by_build_id: OrderedDict[str, Table] = OrderedDict()
        self._by_file: dict[tuple, str | None] = {}
        self.builds = 0  # tables built (cache misses)
        self.hits = 0

    def table_for_file(self, path: str) -> Table | None:
        """The table of the ELF file at ``path`` (a trusted path of ours), or None."""
        return self.table_for_source(HostFile(path))

    def table_for_source(self, source: FileSource) -> Table | None:
        """The table of the ELF file ``source`` opens (see :mod:`profiler.process.files`), or
        None if it cannot be read as ELF."""
        try:
            fd = source.open(MAX_ELF_SIZE)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if key in self._by_file:
                build_id = self._by_file[key]
                if build_id is None:
                    return None
                table = self._by_build_id.get(build_id)
                if table is not None:
                    self._by_build_id.move_to_end(build_id)
                    self.hits += 1
                    return table
            from ..elf.file import ElfFile
            from .elf_binary import read_elf_unwind_info

            try:
                with ElfFile.from_fd(os.dup(fd), source.label) as elf:
                    info = read_elf_unwind_info(elf)
                table = self._by_build_id.get(info.build_id)
                if table is None:
                    table = self._store(self._build(info))
                else:
                    self.hits += 1
            except (OSError, FormatError):  # unreadable, not ELF, malformed headers or CFI
                self._by_file[key] = None
                return None
        finally:
            os.close(fd)
        self._by_file[key] = info.build_id
        return table

    def _build(self, info: ElfUnwindInfo) -> Table:
        from .cfi import CfiError
        from .lazy_table import LazyUnwindTable
        from .table import build_table

        if self.lazy:
            try:
                lazy = LazyUnwindTable.from_info(info)
            except CfiError:  # a malformed .eh_frame_hdr: the whole table may still be good
                lazy = None
            if lazy is not None:
                return lazy
        return build_table(info)

    def table_for_build_id(self, build_id: str) -> Table | None:
        """A table already built for ``build_id``, or None."""
        return self._by_build_id.get(build_id)

    def vdso_table(self) -> Table | None:
        """The table of the kernel's vDSO, read from this process's own mapping of it (every
        process on a machine maps the same vDSO image)."""
        image = read_own_vdso()
        if image is None:
            return None
        from .elf_binary import read_elf_unwind_info

        try:
            info = read_elf_unwind_info(image)
            table = self._by_build_id.get(info.build_id)
            return table if table is not None else self._store(self._build(info))
        except FormatError:
            return None

    def _store(self, table: Table) -> Table:
        self.builds += 1
        self._by_build_id[table.build_id] = table
        while len(self._by_build_id) > self.max_tables:
            self._by_build_id.popitem(last=False)
        return table


def read_own_vdso() -> bytes | None:
    """The bytes of this process's ``[vdso]`` mapping, or None if there is none."""
    from ..process.vdso import own_vdso_image

    return own_vdso_image()
