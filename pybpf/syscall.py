"""The one seam every kernel call of pybpf passes through.

All of pybpf's kernel access (``bpf(2)``, ``perf_event_open(2)``, ``ioctl(2)``, ``close(2)``,
``mmap(2)``, ``setrlimit(2)``...) goes through the :class:`Kernel` object returned by
:func:`kernel`. Unit tests swap it for a fake with :func:`use_kernel` so error paths (EPERM,
ENOSPC, EINVAL, E2BIG...) can be exercised without root; tests of the happy paths use the real
kernel.

cffi runs in ABI mode (``ffi.dlopen(None)``, types pre-parsed in :mod:`pybpf._abi`): nothing is
compiled at install time and no C is parsed at import. Every failing
call raises :class:`OSError` with the kernel's errno; it is never swallowed.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator

from .abi import ffi, libc

# Syscall numbers per architecture (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h).
_SYSCALL_NUMBERS = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
}
_ARCH = platform.machine()
if _ARCH not in _SYSCALL_NUMBERS:  # pragma: no cover - only x86_64 and arm64 are supported
    raise ImportError(f"pybpf: unsupported architecture {_ARCH!r} (x86_64 and aarch64 are)")
NR_BPF = _SYSCALL_NUMBERS[_ARCH]["bpf"]
NR_PERF_EVENT_OPEN = _SYSCALL_NUMBERS[_ARCH]["perf_event_open"]

MAP_FAILED = 2**64 - 1 if ffi.sizeof("void *") == 8 else 2**32 - 1
RLIMIT_MEMLOCK = 8
RLIM_INFINITY = 2**64 - 1


def _raise_errno(what: str) -> None:
    err = ffi.errno
    raise OSError(err, f"{what}: {os.strerror(err)}")


class Kernel:
    """The real kernel, reached through libc with cffi.

    Each method is a thin wrapper: it passes its arguments through, returns the result, and
    raises ``OSError(errno, ...)`` on failure. Policy (retries, error translation) lives above.
    A fake for tests subclasses this and overrides the methods it wants to break.
    """

    def bpf(self, cmd: int, attr: object, size: int) -> int:
        """Call ``bpf(cmd, attr, size)`` (attr: a cffi pointer or buffer); return the result."""
        ret = libc.syscall(
            ffi.cast("long", NR_BPF), ffi.cast("int", cmd), attr, ffi.cast("unsigned int", size)
        )
        if ret < 0:
            _raise_errno(f"bpf(cmd={cmd})")
        return ret

    def perf_event_open(self, attr: object, pid: int, cpu: int, group_fd: int, flags: int) -> int:
        """Call ``perf_event_open(attr, pid, cpu, group_fd, flags)``; returns the new fd."""
        ret = libc.syscall(
            ffi.cast("long", NR_PERF_EVENT_OPEN),
            attr,
            ffi.cast("int", pid),
            ffi.cast("int", cpu),
            ffi.cast("int", group_fd),
            ffi.cast("unsigned long", flags),
        )
        if ret < 0:
            _raise_errno("perf_event_open")
        return ret

    def ioctl(self, fd: int, request: int, arg: int | object = 0) -> int:
        """Call ``ioctl(fd, request, arg)``; ``arg`` is an integer or a cffi pointer."""
        if isinstance(arg, int):
            arg = ffi.cast("unsigned long", arg)
        ret = libc.ioctl(fd, ffi.cast("unsigned long", request), arg)
        if ret < 0:
            _raise_errno(f"ioctl(fd={fd}, request={request:#x})")
        return ret

    def close(self, fd: int) -> None:
        """Close ``fd``."""
        if libc.close(fd) < 0:
            _raise_errno(f"close(fd={fd})")

    def mmap(self, length: int, prot: int, flags: int, fd: int, offset: int = 0) -> object:
        """Map ``length`` bytes of ``fd``; returns a cffi ``void *``."""
        addr = libc.mmap(ffi.NULL, length, prot, flags, fd, offset)
        if int(ffi.cast("uintptr_t", addr)) == MAP_FAILED:
            _raise_errno(f"mmap(fd={fd}, length={length})")
        return addr

    def munmap(self, addr: object, length: int) -> None:
        """Unmap a region returned by :meth:`mmap`."""
        if libc.munmap(addr, length) < 0:
            _raise_errno("munmap")

    def getrlimit(self, resource: int) -> tuple[int, int]:
        """Return ``(soft, hard)`` for ``resource``."""
        rl = ffi.new("struct rlimit *")
        if libc.getrlimit(resource, rl) < 0:
            _raise_errno("getrlimit")
        return rl.rlim_cur, rl.rlim_max

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """Set ``resource`` to ``(soft, hard)``."""
        rl = ffi.new("struct rlimit *", (soft, hard))
        if libc.setrlimit(resource, rl) < 0:
            _raise_errno("setrlimit")


_current: Kernel = Kernel()


def kernel() -> Kernel:
    """Return the kernel seam in use (the real one unless a test swapped it)."""
    return _current


@contextlib.contextmanager
def use_kernel(fake: Kernel) -> Iterator[Kernel]:
    """Route every pybpf syscall through ``fake`` inside the ``with`` block (for tests)."""
    global _current
    previous, _current = _current, fake
    try:
        yield fake
    finally:
        _current = previous


def kernel_release() -> tuple[int, int]:
    """Return the running kernel's ``(major, minor)`` version."""
    release = platform.release().split("-")[0].split(".")
    return int(release[0]), int(release[1])


def raise_memlock_limit() -> None:
    """Lift RLIMIT_MEMLOCK on kernels before 5.11, which charge BPF memory to it.

    Newer kernels account BPF memory to the memory cgroup and ignore the limit, so nothing is
    changed there.
    """
    if kernel_release() >= (5, 11):
        return
    k = kernel()
    soft, _hard = k.getrlimit(RLIMIT_MEMLOCK)
    if soft != RLIM_INFINITY:
        k.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY)
