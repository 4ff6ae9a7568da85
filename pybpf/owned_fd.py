"""The life cycle every live BPF object shares: it owns one fd and closes it exactly once."""

from __future__ import annotations

from typing import Self

from . import bpf_commands as cmds


class OwnedFd:
    """Base of live objects (maps, programs): ``fd``, ``closed``, ``close()`` once, ``with``.

    Subclasses set ``self._fd`` and ``self.name``; ``KIND`` names them in errors.
    """

    KIND = "object"
    _fd: int
    name: str

    @property
    def fd(self) -> int:
        """The file descriptor (``ValueError`` once closed)."""
        if self._fd < 0:
            raise ValueError(f"{self.KIND} {self.name!r} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._fd < 0

    def close(self) -> None:
        """Close the fd (once; later calls do nothing)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            cmds.close_fd(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
