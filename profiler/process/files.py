"""Open a target's files as the target sees them, and no further.

Everything under a profiled process's root is the target's to control: a container can make
``/tmp/perf-1.map`` a FIFO, a link to ``/dev/zero`` or a symlink to ``/etc/shadow`` on the host.
The agent runs as root, so every such open goes through here:

- paths resolve inside the process's root (``/proc/PID/root``) and never out of it: ``openat2``
  with ``RESOLVE_IN_ROOT`` (Linux 5.6+: absolute symlinks and ``..`` are clamped at that root,
  magic links refused), else a checked walk that reads each symlink and resolves it the same way;
- only regular files are read (``O_NONBLOCK`` so a FIFO cannot hang the open; then ``fstat``);
- a size cap per kind of file, and, where the caller asks, the owner (perf maps: the process's
  user or root, perf's rule) and the identity (device and inode of the mapping that was sampled).

Every refusal is an :class:`UnsafeFileError`, an ``OSError``: callers already treat an unreadable
file as one that costs its own frames.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Protocol

from .syscalls import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, calls

# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
MAX_SYMLINKS = 40  # as the kernel's own limit (ELOOP)


class UnsafeFileError(OSError):
    """A file we refuse to read: not a regular file, too large, owned by another user, not the
    file the process mapped, or reachable only by leaving the process's root."""


def check_regular(fd: int, path: str, max_size: int | None = None) -> os.stat_result:
    """``fstat`` of an open ``fd``: a regular file no larger than ``max_size``, else raise."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(errno.EINVAL, "not a regular file", path)
    if max_size is not None and st.st_size > max_size:
        raise UnsafeFileError(errno.EFBIG, f"larger than {max_size} bytes", path)
    return st


def open_regular(path: str, max_size: int | None = None) -> int:
    """Open a trusted path (ours, or the host's debug directories) for reading: regular files only.

    Symlinks are followed (the host's own files); use :class:`TargetRoot` for a target's files.
    """
    fd = os.open(path, READ_FLAGS)
    try:
        check_regular(fd, path, max_size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class TargetRoot:
    """The root directory of process ``pid`` (``/proc/PID/root``), held open: a context manager.

    :meth:`open` resolves a path inside it. Holding the directory open pins the root the
    process had when we looked, even if the process exits or ``chroot``\\s meanwhile.
    """

    def __init__(self, pid: int | str, proc: str = "/proc", *, use_openat2: bool = True) -> None:
        self.pid = pid
        self.use_openat2 = use_openat2
        self._fd = os.open(f"{proc}/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    @classmethod
    def of_directory(cls, path: str, *, use_openat2: bool = True) -> TargetRoot:
        """A root at a plain directory (a container image unpacked on disk, tests)."""
        self = cls.__new__(cls)
        self.pid = None
        self.use_openat2 = use_openat2
        self._fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self

    def close(self) -> None:
        """Close the root directory (once)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> TargetRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(
        self,
        path: str,
        *,
        max_size: int | None = None,
        owners: tuple[int, ...] | None = None,
        identity: tuple[int, int] | None = None,
    ) -> int:
        """An fd of ``path`` as seen inside the root: a regular file, or :class:`UnsafeFileError`.

        ``owners``: allowed owner uids; ``identity``: the ``(st_dev, st_ino)`` it must have.
        Raises ``OSError`` (``FileNotFoundError``...) as ``open`` would.
        """
        if self._fd < 0:
            raise ValueError("TargetRoot is closed")
        fd = self._open(path)
        try:
            st = check_regular(fd, path, max_size)
            if owners is not None and st.st_uid not in owners:
                raise UnsafeFileError(
                    errno.EPERM, f"owned by uid {st.st_uid}, not by the process's user", path
                )
            if identity is not None and (st.st_dev, st.st_ino) != identity:
                raise UnsafeFileError(errno.ESTALE, "not the file the process mapped", path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open(self, path: str) -> int:
        relative = path.lstrip("/") or "."
        if self.use_openat2:
            try:
                return calls().openat2(
                    self._fd, relative, READ_FLAGS, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
                )
            except OSError as e:
                # No openat2 (Linux < 5.6) or a seccomp filter that refuses it: walk by hand.
                if e.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                self.use_openat2 = False
        return self._walk(relative)

    def _walk(self, relative: str) -> int:
        """Resolve ``relative`` component by component; symlinks are read and resolved inside
        the root (absolute ones from the root, ``..`` stops at the root), never followed by the
        kernel."""
        todo = [c for c in relative.split("/") if c not in ("", ".")]
        todo.reverse()  # a stack: the next component is at the end
        dirs = [os.dup(self._fd)]  # the directories walked so far; dirs[0] is the root
        links = 0
        try:
            while todo:
                name = todo.pop()
                if name == "..":
                    if len(dirs) > 1:
                        os.close(dirs.pop())
                    continue
                here = dirs[-1]
                flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(name, flags, dir_fd=here)
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode):
                    os.close(fd)
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", relative)
                    target = os.readlink(name, dir_fd=here)
                    if target.startswith("/"):
                        while len(dirs) > 1:
                            os.close(dirs.pop())
                    parts = [c for c in target.split("/") if c not in ("", ".")]
                    todo.extend(reversed(parts))
                    continue
                if todo:
                    if not stat.S_ISDIR(st.st_mode):
                        os.close(fd)
                        raise NotADirectoryError(errno.ENOTDIR, "not a directory", relative)
                    dirs.append(fd)
                    continue
                os.close(fd)
                # The last component is not a symlink (checked above): open it for reading.
                return os.open(name, READ_FLAGS | os.O_NOFOLLOW, dir_fd=here)
            raise IsADirectoryError(errno.EISDIR, "is a directory", relative)
        finally:
            for fd in dirs:
                os.close(fd)


def process_uid(pid: int | str, proc: str = "/proc") -> int | None:
    """The real uid of process ``pid`` (from its status), or ``None`` if it is gone."""
    try:
        with open(f"{proc}/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_capped(fd: int, max_size: int) -> bytes:
    """Up to ``max_size`` bytes of an open regular file (it may grow while we read it)."""
    chunks = []
    left = max_size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class FileSource(Protocol):
    """Where a file can be (re)opened from: ``open()`` gives a checked fd or raises ``OSError``."""

    label: str

    def open(self, max_size: int | None = None) -> int:
        """An fd of the file (a regular file), or ``OSError``."""


@dataclass(frozen=True, slots=True)
class HostFile:
    """A file at a path of our own (host) file system, e.g. under ``/usr/lib/debug``.

    With ``identity`` (``(st_dev, st_ino)``), the file found there must be that very file.
    """

    label: str
    identity: tuple[int, int] | None = None

    def open(self, max_size: int | None = None) -> int:
        """Open it (regular files only, identity checked)."""
        fd = open_regular(self.label, max_size)
        if self.identity is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self.identity:
                os.close(fd)
                raise UnsafeFileError(errno.ESTALE, "not the expected file", self.label)
        return fd


@dataclass(frozen=True, slots=True)
class RootedFile:
    """A file at ``label``, a path as process ``pid`` sees it, resolved inside its root."""

    pid: int
    label: str
    proc: str = "/proc"
    identity: tuple[int, int] | None = None

    def open(self, max_size: int | None = None) -> int:
        """Open it through :class:`TargetRoot` (never out of the process's root)."""
        with TargetRoot(self.pid, self.proc) as root:
            return root.open(self.label, max_size=max_size, identity=self.identity)
