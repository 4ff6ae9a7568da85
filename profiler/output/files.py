"""Our own files, written whole or not at all, and never through someone else's link.

A root process that writes ``/tmp/out.pb.gz`` through a predictable temp name can be made to
overwrite any file (``ln -s /etc/shadow /tmp/out.pb.gz.tmp1234``). So every file we write (the
profile, the agent's status, spilled payloads, exported intervals) goes through
:class:`AtomicFile`: a temp file created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random
name, mode 0600) in the target's own directory, renamed over the target when complete, removed
on failure. ``rename`` replaces a symlink at the target itself, never what it points to.
"""

from __future__ import annotations

import errno
import os
import tempfile


class AtomicFile:
    """The temp file is created at once, so an unwritable directory fails before any work.

    ``mode``: the final file's permissions (before the umask). Use as a context manager:
    ``commit(data)`` inside it, and an exception (or no commit) removes the temp file.
    """

    def __init__(self, path: str, mode: int = 0o644) -> None:
        self.path = os.path.abspath(path)
        directory, name = os.path.split(self.path)
        if not name:
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        if os.path.isdir(self.path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        if os.path.lexists(self.path) and not os.access(self.path, os.W_OK, follow_symlinks=False):
            # An immutable or read-only target: renaming over it would fail only at the end.
            raise PermissionError(errno.EPERM, "cannot replace the existing file", path)
        # mkstemp: O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, an unpredictable name.
        self._fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        self._done = False
        umask = os.umask(0)
        os.umask(umask)
        self._mode = mode & ~umask

    def commit(self, data: bytes) -> None:
        """Write ``data``, flush it to disk, and rename the temp file over the target."""
        if self._done:
            raise ValueError(f"{self.path}: already committed or aborted")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fchmod(self._fd, self._mode)
        os.fsync(self._fd)
        fd, self._fd = self._fd, -1
        os.close(fd)
        os.replace(self._tmp, self.path)
        self._done = True

    def abort(self) -> None:
        """Remove the temp file (nothing happens after a commit)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
        if not self._done:
            self._done = True
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


def write_atomically(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through an :class:`AtomicFile` (all or nothing)."""
    with AtomicFile(path, mode) as f:
        f.commit(data)
