"""Parse ``/proc/PID/maps``: one :class:`Mapping` per line, sorted by start address."""

from __future__ import annotations

from dataclasses import dataclass

_DELETED = " (deleted)"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of ``/proc/PID/maps``.

    ``path`` is the pathname column without the `` (deleted)`` marker (``deleted`` says whether it
    was there); pseudo paths such as ``[vdso]``, ``[heap]``, ``[stack]`` are kept as they are and
    anonymous mappings have ``path == ""``.
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
