"""A spill directory: undelivered payloads on disk, oldest first, bounded, never fatal.

Each payload is one file ``<seq>.payload`` (the sequence number orders them across restarts),
written whole or not at all (:class:`~profiler.output.files.AtomicFile`). The directory can fill
up, vanish or turn read-only under us: every operation that fails is counted and logged and
reported to the caller as "not spilled" / "nothing there", never raised into the sender.
"""

from __future__ import annotations

import logging
import os

from ..output.files import AtomicFile
from ..process.files import read_capped

log = logging.getLogger("profiler.export")

SUFFIX = ".payload"


class SpillDirectory:
    """Payload files in ``path`` (created if missing), at most ``max_bytes`` together."""

    def __init__(self, path: str, max_bytes: int, name: str = "") -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.name = name or path
        self.errors = 0  # operations that failed (full, read-only, removed directory...)
        self.dropped = 0  # payloads removed because the directory was over its bound
        self.bytes = 0
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            self._remove_leftovers()
        except OSError as exc:
            self._failed("cannot use the spill directory", exc)
        self.bytes = sum(size for _, _, size in self._entries())

    def _failed(self, what: str, exc: OSError) -> None:
        self.errors += 1
        log.warning("%s: %s %s: %s", self.name, what, self.path, exc.strerror or exc)

    def _remove_leftovers(self) -> None:
        """Temp files of a writer that died mid-write (ours: AtomicFile's ``.NAME.*.tmp``)."""
        for entry in os.listdir(self.path):
            if entry.startswith(".") and entry.endswith(".tmp") and SUFFIX in entry:
                try:
                    os.unlink(os.path.join(self.path, entry))
                except OSError:
                    pass

    def _entries(self) -> list[tuple[int, str, int]]:
        """``(seq, path, size)`` of every payload file, oldest first (``[]`` on errors)."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        out = []
        for entry in names:
            stem = entry[: -len(SUFFIX)]
            if not entry.endswith(SUFFIX) or not stem.isdigit():
                continue
            full = os.path.join(self.path, entry)
            try:
                out.append((int(stem), full, os.lstat(full).st_size))
            except OSError:
                continue
        return sorted(out)

    def last_seq(self) -> int:
        """The highest sequence number on disk (-1 if none): a restarted agent goes on after it."""
        entries = self._entries()
        return entries[-1][0] if entries else -1

    def count(self) -> int:
        """How many payloads wait on disk."""
        return len(self._entries())

    def put(self, seq: int, data: bytes) -> bool:
        """Write a payload; False (counted, logged) if the directory refused it."""
        try:
            with AtomicFile(os.path.join(self.path, f"{seq:012d}{SUFFIX}"), mode=0o600) as f:
                f.commit(data)
        except OSError as exc:
            self._failed(f"cannot spill payload #{seq} to", exc)
            return False
        self.bytes += len(data)
        while self.bytes > self.max_bytes:
            entries = self._entries()
            if len(entries) <= 1:
                break
            old_seq, old, size = entries[0]
            if not self.remove(old, size):
                break
            self.dropped += 1
            log.warning(
                "%s: spill directory over %d bytes: dropped the oldest payload (#%d)",
                self.name,
                self.max_bytes,
                old_seq,
            )
        return True

    def oldest(self) -> tuple[int, str, bytes] | None:
        """``(seq, path, data)`` of the oldest payload, or ``None`` (none, or unreadable)."""
        for seq, path, _ in self._entries():
            try:
                with open(path, "rb") as f:
                    return seq, path, read_capped(f.fileno(), self.max_bytes)
            except OSError as exc:
                self._failed(f"cannot read payload #{seq} from", exc)
                self.remove(path, 0)
        return None

    def remove(self, path: str, size: int) -> bool:
        """Delete a payload file (sent, or dropped); False if that failed."""
        try:
            size = size or os.lstat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            return True
        except OSError as exc:
            self._failed("cannot remove a payload from", exc)
            return False
        self.bytes = max(0, self.bytes - size)
        return True
