"""The one close life cycle of pybpf's live objects (fds, mappings, attachments, readers).

A live object releases what it holds exactly once: :meth:`Closeable.close` runs its
``_release()`` the first time and does nothing after; ``closed`` tells which; ``with`` closes it.
Objects that hold several things release them with :func:`close_all`: every one is released
even if one fails, and the first failure is raised afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Self


class Closeable:
    """Base of every pybpf object that owns a kernel resource.

    Subclasses implement ``_release()``; they call ``_check_open()`` before using the resource.
    """

    KIND = "object"
    _closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        """Release what the object holds (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Free the resources (called once, by :meth:`close`)."""

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.KIND} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_all(closers: Iterable[Callable[[], object]]) -> None:
    """Call every closer, even if some raise ``OSError``; then raise the first such error."""
    first: OSError | None = None
    for closer in closers:
        try:
            closer()
        except OSError as exc:
            first = first or exc
    if first is not None:
        raise first
