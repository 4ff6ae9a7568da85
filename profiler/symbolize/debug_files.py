"""Find a binary's separate debug file: by build id, or by ``.gnu_debuglink`` (GDB's search order).

Candidates, in order (``ROOT`` is each configured debug root, ``/usr/lib/debug`` by default):

1. ``ROOT/.build-id/xx/yyyy….debug`` (``xx`` the first byte of the build id in hex);
2. with a debuglink ``NAME`` for a binary in ``DIR``: ``DIR/NAME``, ``DIR/.debug/NAME`` and
   ``ROOT/DIR/NAME`` (``DIR`` read through the process's root first, for containers).

A candidate is accepted only if it matches: same build id when the binary has one, else the
debuglink's CRC32 of the whole file. A file that is the binary itself is never its own debug file.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence

from ..elf.errors import FormatError
from ..elf.file import ElfFile

DEFAULT_DEBUG_ROOTS = ("/usr/lib/debug",)


def _file_crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


class DebugFileFinder:
    """Locate separate debug files under ``debug_roots`` (see the module docstring)."""

    def __init__(self, debug_roots: Sequence[str] = DEFAULT_DEBUG_ROOTS) -> None:
        self.debug_roots = tuple(debug_roots)

    def candidates(
        self,
        binary_path: str,
        build_id: str,
        debuglink: tuple[str, int] | None,
        root_prefix: str = "",
    ) -> Iterable[str]:
        """Paths to try, in order (they may not exist)."""
        if len(build_id) > 2:
            for root in self.debug_roots:
                yield f"{root}/.build-id/{build_id[:2]}/{build_id[2:]}.debug"
        if debuglink:
            name = debuglink[0]
            directory = os.path.dirname(binary_path)
            prefixes = (root_prefix, "") if root_prefix else ("",)
            for prefix in prefixes:
                yield f"{prefix}{directory}/{name}"
                yield f"{prefix}{directory}/.debug/{name}"
            for root in self.debug_roots:
                yield f"{root}{directory}/{name}"

    def find(
        self,
        binary_path: str,
        build_id: str,
        debuglink: tuple[str, int] | None,
        root_prefix: str = "",
        opened_path: str | None = None,
    ) -> str | None:
        """The first candidate that matches the binary, or ``None``.

        ``binary_path`` is the path as the process sees it; ``root_prefix`` is prepended to read
        files next to it (``/proc/PID/root``); ``opened_path`` is the file we actually read the
        binary from (so it is never taken for its own debug file).
        """
        if not build_id and not debuglink:
            return None
        own = _stat_key(opened_path or root_prefix + binary_path)
        tried = dict.fromkeys(self.candidates(binary_path, build_id, debuglink, root_prefix))
        for candidate in tried:
            key = _stat_key(candidate)
            if key is None or key == own:
                continue
            if _matches(candidate, build_id, debuglink):
                return candidate
        return None


def _stat_key(path: str | None) -> tuple[int, int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _matches(candidate: str, build_id: str, debuglink: tuple[str, int] | None) -> bool:
    try:
        with ElfFile.open(candidate) as elf:
            candidate_id = elf.build_id
    except (OSError, FormatError):
        return False
    if build_id:
        return candidate_id == build_id
    if debuglink is None:
        return False
    try:
        return _file_crc32(candidate) == debuglink[1]
    except OSError:
        return False
