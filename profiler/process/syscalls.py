"""The process layer's one kernel seam: ``openat2(2)`` and ``process_vm_readv(2)`` through cffi.

cffi runs in ABI mode (``dlopen(None)``, ``syscall(2)``): nothing is compiled, and the
declarations (:mod:`profiler.process.abi_source`) are pre-parsed in :mod:`profiler.process._abi`,
so no C is parsed at run time. Every call goes through the :class:`ProcessCalls` object returned
by :func:`calls`, so tests can swap it with :func:`use_calls` to make the kernel say ENOSYS,
EPERM or EFAULT. The FFI is loaded on first use: a profile that never needs these calls does not
load it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
from collections.abc import Iterator, Sequence
from typing import Any

# Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h).
_NUMBERS = {
    "x86_64": {"openat2": 437, "process_vm_readv": 310},
    "aarch64": {"openat2": 437, "process_vm_readv": 270},
}

# include/uapi/linux/openat2.h
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
IOV_MAX = 1024  # iovecs per process_vm_readv call (Linux's UIO_MAXIOV)

_ffi: Any = None
_libc: Any = None


def _lib() -> tuple[Any, Any]:
    global _ffi, _libc
    if _ffi is None:
        try:
            from ._abi import ffi
        except ImportError:
            # A _cffi_backend that cannot read the pre-parsed tables (see pybpf.abi): parse the
            # declarations now instead.
            from pybpf.abi_codegen import runtime_ffi

            from .abi_source import CDEF

            ffi = runtime_ffi(CDEF)
        _libc = ffi.dlopen(None)
        _ffi = ffi
    return _ffi, _libc


def _number(name: str) -> int:
    table = _NUMBERS.get(platform.machine())
    if table is None:
        raise OSError(38, f"{name}: unsupported architecture {platform.machine()!r}")
    return table[name]


class ProcessCalls:
    """The real kernel. Each method raises ``OSError(errno, ...)`` on failure, never swallows it.

    A fake for tests subclasses this and overrides the methods it wants to break.
    """

    def openat2(self, dir_fd: int, path: str, flags: int, resolve: int) -> int:
        """``openat2(dir_fd, path, {flags, 0, resolve})``; returns the new fd."""
        ffi, libc = _lib()
        how = ffi.new("struct open_how *", {"flags": flags, "mode": 0, "resolve": resolve})
        ret = libc.syscall(
            ffi.cast("long", _number("openat2")),
            ffi.cast("int", dir_fd),
            ffi.new("char[]", os.fsencode(path)),
            how,
            ffi.cast("size_t", ffi.sizeof("struct open_how")),
        )
        if ret < 0:
            err = ffi.errno
            raise OSError(err, f"openat2 {path!r}: {os.strerror(err)}", path)
        return int(ret)

    def process_vm_readv(self, pid: int, address: int, size: int) -> bytes:
        """``size`` bytes of process ``pid`` at ``address`` (fewer if the range ends early).

        Reads the target's memory without stopping it (no ptrace attach); needs the same
        permission as ptrace (root, or CAP_SYS_PTRACE). Raises ``OSError`` (EFAULT: nothing
        mapped at ``address``; ESRCH: the process is gone; EPERM).
        """
        ffi, libc = _lib()
        buf = ffi.new("char[]", size)
        local = ffi.new("struct iovec *", {"iov_base": buf, "iov_len": size})
        remote = ffi.new(
            "struct iovec *", {"iov_base": ffi.cast("void *", address), "iov_len": size}
        )
        ret = libc.syscall(
            ffi.cast("long", _number("process_vm_readv")),
            ffi.cast("int", pid),
            local,
            ffi.cast("unsigned long", 1),
            remote,
            ffi.cast("unsigned long", 1),
            ffi.cast("unsigned long", 0),
        )
        if ret < 0:
            err = ffi.errno
            raise OSError(err, f"process_vm_readv(pid={pid}, {address:#x}): {os.strerror(err)}")
        return bytes(ffi.buffer(buf, ret))

    def process_vm_readv_many(self, pid: int, ranges: Sequence[tuple[int, int]]) -> bytes:
        """The ``(address, size)`` ranges of process ``pid`` read in one call, concatenated.

        The kernel stops at the first range it cannot read (or reads only part of): the result
        is then shorter than the sum of the sizes, and holds the ranges before that one (and
        the readable start of it). At most ``IOV_MAX`` ranges. Raises ``OSError`` as
        :meth:`process_vm_readv` (EFAULT: the first range is unreadable).
        """
        if len(ranges) > IOV_MAX:
            raise OSError(errno.EINVAL, f"more than {IOV_MAX} ranges in one process_vm_readv")
        ffi, libc = _lib()
        total = sum(size for _, size in ranges)
        buf = ffi.new("char[]", max(total, 1))
        local = ffi.new("struct iovec[]", len(ranges))
        remote = ffi.new("struct iovec[]", len(ranges))
        at = 0
        for i, (address, size) in enumerate(ranges):
            local[i].iov_base = buf + at
            local[i].iov_len = size
            remote[i].iov_base = ffi.cast("void *", address)
            remote[i].iov_len = size
            at += size
        ret = libc.syscall(
            ffi.cast("long", _number("process_vm_readv")),
            ffi.cast("int", pid),
            local,
            ffi.cast("unsigned long", len(ranges)),
            remote,
            ffi.cast("unsigned long", len(ranges)),
            ffi.cast("unsigned long", 0),
        )
        if ret < 0:
            err = ffi.errno
            what = f"process_vm_readv(pid={pid}, {len(ranges)} ranges)"
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return bytes(ffi.buffer(buf, ret))


_current: ProcessCalls = ProcessCalls()


def calls() -> ProcessCalls:
    """The seam in use (the real kernel unless a test swapped it)."""
    return _current


@contextlib.contextmanager
def use_calls(fake: ProcessCalls) -> Iterator[ProcessCalls]:
    """Route the process layer's syscalls through ``fake`` inside the ``with`` block."""
    global _current
    previous, _current = _current, fake
    try:
        yield fake
    finally:
        _current = previous
