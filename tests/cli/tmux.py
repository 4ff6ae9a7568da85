"""A terminal for tests: a detached tmux server of our own, keys sent in, the screen read back."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from itertools import count

_ids = count()


class Tmux:
    """A tmux server on a private socket running one bash pane of ``width`` x ``height`` (a
    context manager: the server is killed on exit)."""

    def __init__(self, tmux: str, width: int = 160, height: int = 45, env: dict | None = None):
        self.tmux = tmux
        self.socket = f"pureprof-test-{os.getpid()}-{next(_ids)}"
        self._run(
            "new-session", "-d", "-x", str(width), "-y", str(height),
            "bash --norc --noprofile",
            env=env,
        )  # fmt: skip

    def _run(self, *args: str, env: dict | None = None) -> str:
        out = subprocess.run(
            [self.tmux, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def type(self, line: str) -> None:
        """Type ``line`` and Enter at the shell."""
        self._run("send-keys", "-t", "0", "-l", line)
        self._run("send-keys", "-t", "0", "Enter")

    def key(self, key: str) -> None:
        """Press one key (tmux's key names: "q", "C-c", ...)."""
        self._run("send-keys", "-t", "0", key)

    def screen(self) -> str:
        """The visible screen as text."""
        return self._run("capture-pane", "-p", "-t", "0")

    def alternate_screen(self) -> bool:
        """Whether the pane is on the alternate screen (a full-screen program is showing)."""
        return self._run("display-message", "-p", "-t", "0", "#{alternate_on}").strip() == "1"

    def wait_for(self, condition: Callable[[str], object], timeout: float = 30) -> str:
        """The screen once ``condition(screen)`` holds (AssertionError with the last screen)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on the screen:\n{text}")
            time.sleep(0.1)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=30
        )
