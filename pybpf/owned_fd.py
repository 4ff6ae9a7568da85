"""Live BPF objects (maps, programs) own one fd and close it exactly once."""

from __future__ import annotations

from . import bpf_commands as cmds
from .lifecycle import Closeable


class OwnedFd(Closeable):
    """Base of live objects (maps, programs): ``fd``, ``closed``, ``close()`` once, ``with``.

    Subclasses set ``self._fd`` and ``self.name``; ``KIND`` names them in errors.
    """

    _fd: int
    name: str

    @property
    def fd(self) -> int:
        """The file descriptor (``ValueError`` once closed)."""
        if self._closed:
            raise ValueError(f"{self.KIND} {self.name!r} is closed")
        return self._fd

    def _release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            cmds.close_fd(fd)
