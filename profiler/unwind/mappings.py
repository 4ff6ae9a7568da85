"""A process's memory mappings (``/proc/PID/maps``), searchable by runtime address.

The unwinder needs, for each address, the mapping that holds it and the mapping's file offset
(to turn the address into an ELF vaddr). Parse the maps text once per process (a snapshot
survives the process's exit) and look addresses up with ``bisect``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of ``/proc/PID/maps``."""

    start: int
    end: int
    offset: int
    perms: str  # e.g. "r-xp"
    inode: int
    path: str  # "" for anonymous memory, "[stack]", "[vdso]", or a file path

    @property
    def executable(self) -> bool:
        """Whether the mapping is mapped executable."""
        return "x" in self.perms

    @property
    def is_file(self) -> bool:
        """Whether the mapping is backed by a regular file we can read ELF data from."""
        return self.inode != 0 and self.path.startswith("/")


def parse_maps(text: str) -> list[Mapping]:
    """Parse the text of ``/proc/PID/maps`` into mappings sorted by start address."""
    out: list[Mapping] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        path = parts[5].strip() if len(parts) == 6 else ""
        out.append(
            Mapping(
                start=int(lo, 16),
                end=int(hi, 16),
                offset=int(parts[2], 16),
                perms=parts[1],
                inode=int(parts[4]),
                path=path,
            )
        )
    out.sort(key=lambda m: m.start)
    return out


class ProcessMappings:
    """The mappings of one process, with :meth:`find` by runtime address.

    ``root`` prefixes file paths when they are opened (``/proc/PID/root`` reads a container's
    files through the target's own mount namespace).
    """

    def __init__(self, mappings: list[Mapping], root: str = "") -> None:
        self.mappings = sorted(mappings, key=lambda m: m.start)
        self._starts = [m.start for m in self.mappings]
        self.root = root.rstrip("/")

    @classmethod
    def from_text(cls, text: str, root: str = "") -> ProcessMappings:
        """Build from the text of a ``/proc/PID/maps`` file."""
        return cls(parse_maps(text), root)

    @classmethod
    def from_pid(cls, pid: int | str) -> ProcessMappings:
        """Snapshot ``/proc/PID/maps`` now; files are read through ``/proc/PID/root``."""
        with open(f"/proc/{pid}/maps") as stream:
            text = stream.read()
        return cls.from_text(text, root=f"/proc/{pid}/root")

    def find(self, addr: int) -> Mapping | None:
        """The mapping that contains ``addr``, or None."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0:
            m = self.mappings[i]
            if addr < m.end:
                return m
        return None

    def file_path(self, mapping: Mapping) -> str:
        """The path to open for a file mapping (under :attr:`root`)."""
        return self.root + mapping.path
