"""A command started held: forked now, exec'd only when released (``record -- CMD``).

The profiler needs the command's pid before the command runs, so that sampling is on from its
first instruction: the child is forked first and waits on a pipe; the session starts with it as
its target; :meth:`HeldCommand.release` lets it exec. An exec that fails (a command that
vanished, a bad binary) is reported through a second, close-on-exec pipe, as ``subprocess``
does.

```python
from profiler.process.launch import HeldCommand
cmd = HeldCommand(["sleep", "1"])    # forked, waiting
...                                   # start sampling cmd.pid
cmd.release()                         # exec sleep
status = cmd.wait(None)               # its exit status (128+N after signal N)
```
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
from collections.abc import Sequence

# Exit status of a held child that was never released (it exits without running anything).
EXIT_NOT_RELEASED = 255
_GO = b"\x01"


class CommandError(OSError):
    """The command cannot be run: not found (exit status 127, as in a shell) or not
    executable (126)."""

    @property
    def exit_status(self) -> int:
        """The shell's exit status for this failure."""
        return 127 if self.errno == errno.ENOENT else 126


def resolve(command: str) -> str:
    """The executable ``command`` names: a path, or a name looked up in ``$PATH``."""
    if "/" in command:
        if not os.path.exists(command):
            raise CommandError(errno.ENOENT, "no such file", command)
        if os.path.isdir(command) or not os.access(command, os.X_OK):
            raise CommandError(errno.EACCES, "not an executable file", command)
        return command
    found = shutil.which(command)
    if found is None:
        raise CommandError(errno.ENOENT, "command not found", command)
    return found


def exit_status(wait_status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N after signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class HeldCommand:
    """``argv`` forked and held before exec until :meth:`release` (a context manager: leaving
    it unreleased lets the child exit unrun and reaps it).

    Resolving the command happens before the fork: :class:`CommandError` when it cannot run.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        if not argv:
            raise CommandError(errno.ENOENT, "no command given", "")
        self.argv = list(argv)
        self.path = resolve(self.argv[0])
        self.status: int | None = None  # shell-style exit status, once reaped
        go_r, self._go = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (go_r, self._go, err_r, err_w):
                os.close(fd)
            raise
        if self.pid == 0:  # the child: never returns
            _child(self.path, self.argv, go_r, self._go, err_r, err_w)
        os.close(go_r)
        os.close(err_w)
        self._err = err_r
        self._pidfd: int | None = None
        self.released = False

    def release(self) -> None:
        """Let the child exec; returns once it has (raises :class:`CommandError` if it could
        not, with the child reaped)."""
        if self.released:
            return
        self.released = True
        try:
            os.write(self._go, _GO)
        finally:
            os.close(self._go)
            self._go = -1
        # The error pipe closes on exec (close-on-exec); an errno comes first if exec failed.
        with open(self._err, "rb", closefd=True) as err:
            self._err = -1
            report = err.read(16)
        if report:
            self.wait(None)
            try:
                code = int(report)
            except ValueError:
                code = errno.EIO
            raise CommandError(code, os.strerror(code), self.argv[0])

    def wait(self, timeout: float | None, wake_fd: int | None = None) -> int | None:
        """Wait up to ``timeout`` seconds (``None``: no limit) for the command to exit, or until
        ``wake_fd`` is readable; its shell-style exit status, or ``None`` while it runs."""
        if self.status is not None:
            return self.status
        if timeout is None and wake_fd is None:
            _, status = os.waitpid(self.pid, 0)
            self.status = exit_status(status)
            return self.status
        if self._pidfd is None:
            self._pidfd = os.pidfd_open(self.pid)
        fds = [self._pidfd] if wake_fd is None else [self._pidfd, wake_fd]
        ready, _, _ = select.select(fds, [], [], None if timeout is None else max(0.0, timeout))
        if self._pidfd not in ready:
            return None
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.status = exit_status(status)
        return self.status

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the command (nothing once it was reaped: the pid may be reused)."""
        if self.status is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Let an unreleased child exit without running, reap it, close the pipes (idempotent;
        a released command is left running)."""
        if self._go >= 0:
            os.close(self._go)  # the child reads EOF and exits
            self._go = -1
            self.wait(None)
        if self._err >= 0:
            os.close(self._err)
            self._err = -1
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __enter__(self) -> HeldCommand:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(path: str, argv: list[str], go_r: int, go_w: int, err_r: int, err_w: int) -> None:
    """In the forked child: wait for the go byte, then exec (or report the errno and exit)."""
    try:
        os.close(go_w)
        os.close(err_r)
        # What Python changed at start-up and an exec would keep (ignored signals survive it):
        # SIGPIPE and SIGXFSZ back to their defaults, as subprocess does. Handled signals
        # (our SIGINT/SIGTERM handlers) are reset by the exec itself.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        if os.read(go_r, 1) != _GO:
            os._exit(EXIT_NOT_RELEASED)
        os.execv(path, argv)
    except OSError as exc:
        try:
            os.write(err_w, str(exc.errno or errno.EIO).encode())
        finally:
            os._exit(127)
    except BaseException:
        pass
    os._exit(127)
