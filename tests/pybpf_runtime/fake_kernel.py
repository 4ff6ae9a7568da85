"""Fake kernels for the syscall seam: bpf(2) answers EPERM, ENOSPC, EINVAL, E2BIG without root."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from pybpf.bpf_attr import Cmd, ffi
from pybpf.syscall import Kernel


class ScriptedKernel(Kernel):
    """Answers each bpf(2) command with a scripted function of (cmd, attr); records every call.

    A command without a script fails with ENOSYS, so a test notices calls it did not expect.
    ``close`` only records (the fds are made up). With ``passthrough=True`` unscripted commands
    go to the real kernel (for tests that break one command of a real workflow).
    """

    def __init__(
        self,
        scripts: dict[Cmd, Callable[[object], int]] | None = None,
        passthrough: bool = False,
    ) -> None:
        self.scripts = dict(scripts or {})
        self.passthrough = passthrough
        self.calls: list[Cmd] = []
        self.closed: list[int] = []

    def bpf(self, cmd: int, attr: object, size: int) -> int:
        command = Cmd(cmd)
        self.calls.append(command)
        script = self.scripts.get(command)
        if script is not None:
            return script(attr)
        if self.passthrough:
            return super().bpf(cmd, attr, size)
        raise OSError(errno.ENOSYS, f"fake kernel: {command.name} not scripted")

    def close(self, fd: int) -> None:
        if self.passthrough and fd not in FAKE_FDS:
            super().close(fd)
            return
        self.closed.append(fd)


# Fds handed out by scripts; never real.
FAKE_FDS = range(10_000, 10_100)


def fail(err: int) -> Callable[[object], int]:
    """A script that fails with ``err``."""

    def script(attr: object) -> int:
        raise OSError(err, os.strerror(err))

    return script


def returns_fd(fd: int = FAKE_FDS[0]) -> Callable[[object], int]:
    """A script that succeeds with ``fd``."""
    return lambda attr: fd


def write_log(attr: object, text: str) -> None:
    """Write ``text`` into a BPF_PROG_LOAD attr's log buffer, truncated as the kernel does."""
    if not attr.log_buf or not attr.log_size:
        return
    data = text.encode()[: attr.log_size - 1] + b"\0"
    ffi.memmove(ffi.cast("char *", attr.log_buf), data, len(data))
