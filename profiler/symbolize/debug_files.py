"""Find a binary's separate debug file: by build id, or by ``.gnu_debuglink`` (GDB's search order).

Candidates, in order (``ROOT`` is each configured debug root, ``/usr/lib/debug`` by default):

1. ``ROOT/.build-id/xx/yyyy….debug`` (``xx`` the first byte of the build id in hex);
2. with a debuglink ``NAME`` for a binary in ``DIR``: ``DIR/NAME`` and ``DIR/.debug/NAME`` as the
   process sees them (resolved inside its root), then ``ROOT/DIR/NAME`` on the host.

Both the build id and the debuglink come from the target's binary, so both are checked before
they become paths: a build id must be hex, a debuglink a plain file name (no ``/``, not ``..``),
and host candidates must stay under their debug root. A candidate is accepted only if it matches:
same build id when the binary has one, else the debuglink's CRC32 of the whole file. A file that
is the binary itself is never its own debug file.
"""

from __future__ import annotations

import os
import posixpath
import string
import zlib
from collections.abc import Iterable, Sequence

from ..elf.errors import FormatError
from ..elf.file import ElfFile
from ..process.files import FileSource, HostFile, RootedFile, read_capped

DEFAULT_DEBUG_ROOTS = ("/usr/lib/debug",)
MAX_DEBUG_FILE = 4 << 30  # a debug file larger than this is not read (nor checksummed)
_HEX = frozenset(string.hexdigits)


def _fd_crc32(fd: int) -> int:
    crc = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := read_capped(fd, 1 << 20):
        crc = zlib.crc32(chunk, crc)
    return crc


def safe_debuglink_name(name: str) -> bool:
    """Whether a ``.gnu_debuglink`` name is a plain file name (it names a file next to the binary,
    never a path elsewhere)."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


class DebugFileFinder:
    """Locate separate debug files under ``debug_roots`` (see the module docstring)."""

    def __init__(self, debug_roots: Sequence[str] = DEFAULT_DEBUG_ROOTS) -> None:
        self.debug_roots = tuple(os.path.normpath(r) for r in debug_roots)

    def candidates(
        self,
        binary_path: str,
        build_id: str,
        debuglink: tuple[str, int] | None,
        pid: int | None = None,
        proc: str = "/proc",
    ) -> Iterable[FileSource]:
        """Where to look, in order (the files may not exist). ``pid``: the process whose root
        ``binary_path`` is in (``None``: our own file system)."""
        if len(build_id) > 2 and set(build_id) <= _HEX:
            for root in self.debug_roots:
                yield HostFile(f"{root}/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
        if debuglink and safe_debuglink_name(debuglink[0]):
            name = debuglink[0]
            directory = posixpath.dirname(posixpath.normpath("/" + binary_path.lstrip("/")))
            for path in (f"{directory}/{name}", f"{directory}/.debug/{name}"):
                yield RootedFile(pid, path, proc) if pid is not None else HostFile(path)
            for root in self.debug_roots:
                path = os.path.normpath(f"{root}{directory}/{name}")
                if path.startswith(root + "/"):
                    yield HostFile(path)

    def find(
        self,
        binary_path: str,
        build_id: str,
        debuglink: tuple[str, int] | None,
        *,
        pid: int | None = None,
        proc: str = "/proc",
        binary_identity: tuple[int, int] | None = None,
    ) -> FileSource | None:
        """The first candidate that matches the binary, or ``None``.

        ``binary_identity``: ``(st_dev, st_ino)`` of the file we read the binary from, so it is
        never taken for its own debug file.
        """
        if not build_id and not debuglink:
            return None
        seen: set[tuple[int, int]] = set()
        for candidate in self.candidates(binary_path, build_id, debuglink, pid, proc):
            try:
                fd = candidate.open(MAX_DEBUG_FILE)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                key = (st.st_dev, st.st_ino)
                if key == binary_identity or key in seen:
                    continue
                seen.add(key)
                if _matches(fd, candidate.label, build_id, debuglink):
                    return candidate
            finally:
                os.close(fd)
        return None


def _matches(fd: int, label: str, build_id: str, debuglink: tuple[str, int] | None) -> bool:
    try:
        with ElfFile.from_fd(os.dup(fd), label) as elf:
            candidate_id = elf.build_id
    except (OSError, FormatError):
        return False
    if build_id:
        return candidate_id == build_id
    if debuglink is None:
        return False
    try:
        return _fd_crc32(fd) == debuglink[1]
    except OSError:
        return False
