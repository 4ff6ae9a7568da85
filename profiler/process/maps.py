"""A process's memory mappings: the one parser of ``/proc/PID/maps`` and the one snapshot of it.

:class:`Mapping` is one line; :class:`ProcessMaps` is the executable mappings of one process at
one moment, searchable by address, kept after the process exits, and the one way to open the
file behind a mapping (safely: see :mod:`profiler.process.files`). Symbolization, unwinding and
the session all look addresses up in the same snapshot; what they derive from it per process
(binaries found, unwind memos, symbolized addresses) hangs off :attr:`ProcessMaps.derived` and is
dropped with the snapshot.
"""

from __future__ import annotations

import bisect
import os
import time
from array import array
from dataclasses import dataclass
from typing import Any

from .files import READ_FLAGS, FileSource, HostFile, RootedFile, check_regular

_DELETED = " (deleted)"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of ``/proc/PID/maps``.

    ``path`` is the pathname column without the `` (deleted)`` marker (``deleted`` says whether it
    was there); pseudo paths such as ``[vdso]``, ``[heap]``, ``[stack]`` are kept as they are and
    anonymous mappings have ``path == ""``. ``dev`` is the ``major:minor`` column (hex).
    """

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    deleted: bool = False

    @property
    def executable(self) -> bool:
        """Whether the mapping is executable (only those hold sampled instruction addresses)."""
        return "x" in self.perms

    @property
    def is_file(self) -> bool:
        """Whether the mapping is backed by a file (not anonymous and not a ``[pseudo]`` path)."""
        return self.inode != 0 and self.path.startswith("/")

    @property
    def is_pseudo(self) -> bool:
        """Whether the path is a kernel pseudo name such as ``[vdso]``, ``[heap]``, ``[stack]``."""
        return self.path.startswith("[") and self.path.endswith("]")

    @property
    def map_files_name(self) -> str:
        """The entry name in ``/proc/PID/map_files`` (``start-end`` in lower-case hex)."""
        return f"{self.start:x}-{self.end:x}"

    @property
    def identity(self) -> tuple[int, int] | None:
        """``(st_dev, st_ino)`` of the mapped file, as ``fstat`` gives them; ``None`` if unknown."""
        major, _, minor = self.dev.partition(":")
        try:
            return os.makedev(int(major, 16), int(minor, 16)), self.inode
        except ValueError:
            return None


def parse_maps_line(line: str) -> Mapping | None:
    """Parse one line of ``/proc/PID/maps``; ``None`` for a blank or malformed line."""
    # The path is the rest of the line after five space-separated fields; it may contain spaces.
    fields = line.rstrip("\n").split(None, 5)
    if len(fields) < 5:
        return None
    try:
        start_s, end_s = fields[0].split("-", 1)
        start, end = int(start_s, 16), int(end_s, 16)
        offset = int(fields[2], 16)
        inode = int(fields[4])
    except ValueError:
        return None
    if not 0 <= start < end < 1 << 64 or not 0 <= offset < 1 << 64:
        return None
    path = fields[5].strip() if len(fields) == 6 else ""
    deleted = path.endswith(_DELETED)
    if deleted:
        path = path[: -len(_DELETED)]
    return Mapping(start, end, fields[1], offset, fields[3], inode, path, deleted)


def parse_maps(text: str) -> list[Mapping]:
    """Parse the whole text of ``/proc/PID/maps``; mappings sorted by start address."""
    mappings = [m for m in map(parse_maps_line, text.splitlines()) if m is not None]
    mappings.sort(key=lambda m: m.start)
    return mappings


def read_maps(pid: int | str, proc: str = "/proc") -> list[Mapping]:
    """Read and parse ``/proc/PID/maps``; raises ``OSError`` if the process is gone."""
    with open(f"{proc}/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
        return parse_maps(f.read())


class ProcessMaps:
    """The executable mappings of one process at ``taken_at`` (``time.monotonic()``), by address.

    Made by :meth:`read` (a live process) or :meth:`from_text` (recorded maps: the files are then
    opened at their paths under ``root``). ``derived`` holds what consumers compute from this
    snapshot (a dict keyed by consumer), so it lives exactly as long as the snapshot.
    """

    __slots__ = (
        "__weakref__",
        "_starts",
        "derived",
        "exited",
        "mappings",
        "pid",
        "proc",
        "root",
        "taken_at",
    )

    def __init__(
        self,
        mappings: list[Mapping],
        *,
        pid: int | None = None,
        proc: str = "/proc",
        root: str = "",
    ) -> None:
        """Keep the executable ones of ``mappings``. ``pid`` set: files open through the
        process's ``map_files`` and root; else at ``root + path`` (recorded maps, tests)."""
        self.pid = pid
        self.proc = proc
        self.root = root.rstrip("/")
        self.mappings = sorted((m for m in mappings if m.executable), key=lambda m: m.start)
        self._starts = array("Q", (m.start for m in self.mappings))
        self.taken_at = time.monotonic()
        self.exited = False
        self.derived: dict[str, Any] = {}

    @classmethod
    def read(cls, pid: int, proc: str = "/proc") -> ProcessMaps:
        """Snapshot ``/proc/PID/maps`` now; raises ``OSError`` if the process is gone."""
        return cls(read_maps(pid, proc), pid=pid, proc=proc)

    @classmethod
    def from_text(cls, text: str, root: str = "") -> ProcessMaps:
        """From the text of a ``/proc/PID/maps`` file (files opened under ``root``)."""
        return cls(parse_maps(text), root=root)

    def index(self, address: int) -> int | None:
        """The index in :attr:`mappings` of the mapping holding ``address``, or ``None``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.mappings[i].end:
            return i
        return None

    def find(self, address: int) -> Mapping | None:
        """The executable mapping holding ``address``, or ``None``."""
        i = self.index(address)
        return None if i is None else self.mappings[i]

    def source(self, mapping: Mapping) -> FileSource:
        """Where the file behind ``mapping`` can be opened from (now, or later: see
        :class:`MappedFile`)."""
        if self.pid is None:
            return HostFile(self.root + mapping.path)
        return MappedFile(self.pid, mapping, self.proc)


@dataclass(frozen=True, slots=True)
class MappedFile:
    """The file behind one mapping of a live process: that very file, or ``OSError``.

    :meth:`open` tries ``/proc/PID/map_files/START-END`` first (the mapped file itself, even if
    deleted or in another mount namespace; needs CAP_SYS_ADMIN), then the path resolved inside
    the process's root, then our own path of the same name (a process in our mount namespace
    that has exited): the last two only if device and inode are the mapping's. A deleted file
    is reached through ``map_files`` only. Holds no reference to the snapshot.
    """

    pid: int
    mapping: Mapping
    proc: str = "/proc"

    @property
    def label(self) -> str:
        """The path as the process sees it."""
        return self.mapping.path

    def open(self, max_size: int | None = None) -> int:
        """An fd of the mapped file (a regular file, no larger than ``max_size``)."""
        m = self.mapping
        if not m.is_file:
            raise FileNotFoundError(2, "not a file mapping", m.path)
        errors: list[OSError] = []
        try:
            fd = os.open(f"{self.proc}/{self.pid}/map_files/{m.map_files_name}", READ_FLAGS)
        except OSError as e:
            errors.append(e)
        else:
            try:
                check_regular(fd, m.path, max_size)
            except BaseException:
                os.close(fd)
                raise
            return fd
        if not m.deleted and m.identity is not None:
            for source in (
                RootedFile(self.pid, m.path, self.proc, m.identity),
                HostFile(m.path, m.identity),
            ):
                try:
                    return source.open(max_size)
                except OSError as e:
                    errors.append(e)
        raise errors[-1]
