"""The errors of the readers of a CPython process: one per reader, each a ``FormatError``.

Everything read from a Python process's memory is the target's to choose, as its files are: so
these errors join the family of :mod:`profiler.elf.errors`, and callers that catch
``(OSError, FormatError)`` at their boundary lose one process's Python frames, never the run.
"""

from __future__ import annotations

from ..elf.errors import FormatError


class PythonReadError(FormatError):
    """A CPython process could not be read as one (the base of this package's errors)."""


class MemoryReadError(PythonReadError):
    """A read of a target's memory failed: the process is gone (``ESRCH``), the address is not
    mapped (``EFAULT``: often a pointer the target wrote), we may not read it (``EPERM``), or
    the size asked is out of bounds (``EINVAL``). ``errno`` says which."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


class UnsupportedPython(PythonReadError):
    """The interpreter's version or build is one whose frames we cannot walk, or the offsets
    it describes itself with (``_Py_DebugOffsets``) are corrupt."""


class InterpreterNotFound(PythonReadError):
    """No CPython we can walk in this process; ``reason`` says why, ``version`` (a
    ``PY_VERSION_HEX``, 0 if unknown) which one was found, ``retry`` whether it is worth looking
    again later (e.g. the runtime was not initialised yet)."""

    def __init__(self, reason: str, version: int = 0, *, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.version = version
        self.retry = retry
