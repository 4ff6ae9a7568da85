"""A full-screen terminal for ``top``: keys one at a time, the screen redrawn in place, and
the terminal given back exactly as it was.

:class:`FullScreen` turns off line buffering, echo and the keys that send signals (so Ctrl-C
and Ctrl-Z arrive as keys and ``top`` quits or ignores them itself), switches to the alternate
screen and hides the cursor; leaving it (normally, by an exception or after SIGTERM) restores
the saved termios settings, the cursor and the main screen. termios only: no curses.
"""

from __future__ import annotations

import os
import select
import shutil
import termios

ALT_SCREEN_ON = b"\x1b[?1049h"
ALT_SCREEN_OFF = b"\x1b[?1049l"
CURSOR_OFF = b"\x1b[?25l"
CURSOR_ON = b"\x1b[?25h"
HOME = b"\x1b[H"
CLEAR_LINE = b"\x1b[K"  # to the end of the line
CLEAR_BELOW = b"\x1b[J"

CTRL_C = "\x03"


class FullScreen:
    """The terminal on ``in_fd``/``out_fd`` in full-screen, key-at-a-time mode (a context
    manager)."""

    def __init__(self, in_fd: int = 0, out_fd: int = 1) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self._saved: list | None = None

    def __enter__(self) -> FullScreen:
        self._saved = termios.tcgetattr(self.in_fd)
        mode = termios.tcgetattr(self.in_fd)
        # lflag: no canonical lines, no echo, no signal keys (Ctrl-C is read as a key), no
        # extended input processing; a read returns as soon as one byte is there.
        mode[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        try:
            termios.tcsetattr(self.in_fd, termios.TCSANOW, mode)
            self._write(ALT_SCREEN_ON + CURSOR_OFF)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._write(CURSOR_ON + ALT_SCREEN_OFF)
        finally:
            if self._saved is not None:
                # TCSAFLUSH: keys typed but not read (a last "q" pressed twice) are dropped,
                # not handed to the shell.
                termios.tcsetattr(self.in_fd, termios.TCSAFLUSH, self._saved)
                self._saved = None

    def size(self) -> tuple[int, int]:
        """(columns, lines) of the terminal now."""
        size = shutil.get_terminal_size(fallback=(80, 24))
        try:
            size = os.get_terminal_size(self.out_fd)
        except OSError:
            pass
        return size.columns, size.lines

    def read_key(self, timeout: float) -> str | None:
        """The next key pressed within ``timeout`` seconds (an escape sequence whole), or
        ``None``."""
        ready, _, _ = select.select([self.in_fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        data = os.read(self.in_fd, 64)
        return data.decode(errors="replace") if data else CTRL_C  # EOF: the terminal is gone

    def draw(self, lines: list[str]) -> None:
        """Replace the screen with ``lines`` (each already cut to the width)."""
        body = b"\r\n".join(line.encode(errors="replace") + CLEAR_LINE for line in lines)
        self._write(HOME + body + CLEAR_BELOW)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.out_fd, view)
            view = view[n:]
