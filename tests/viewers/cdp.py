"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (tests only).

Why a pipe and the standard library: Chromium reads commands from fd 3 and writes replies and
events to fd 4, each a JSON message ended by a NUL byte. That needs no WebSocket client (so no
test dependency such as websocket-client), no debugging port any local process could reach, and
no port to pick; it is what Puppeteer's ``pipe: true`` does.

``Browser`` starts Debian's ``chromium`` headless with a fresh ``--user-data-dir`` (from
``tempfile.mkdtemp``, removed on close) and the flags that keep it off the network; ``Page`` is
one tab: navigate, evaluate JavaScript, click, type. Waits are on conditions (a load event, a
JavaScript predicate), with deadlines. Closing ends the browser's process group (the browser was
started in a session of its own) and reaps it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
)


class CDPError(RuntimeError):
    """The browser answered a command with an error, a page script threw, or a wait timed out."""


class Browser:
    """A headless Chromium driven over a pipe. Use as a context manager."""

    def __init__(self, executable: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="pureprof-chromium-")
        self._log_path = os.path.join(self._dir, "chromium.log")
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        # Out of the way of 3 and 4 first, so the dup2s below cannot overwrite each other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, resp_w)]
        for fd in (cmd_r, resp_w):
            os.close(fd)
        log_fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        argv = [
            executable,
            *FLAGS,
            f"--user-data-dir={os.path.join(self._dir, 'profile')}",
            "about:blank",
        ]
        try:
            self.pid = os.posix_spawn(
                executable,
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                    (os.POSIX_SPAWN_DUP2, high[0], 3),
                    (os.POSIX_SPAWN_DUP2, high[1], 4),
                ],
                setsid=True,
            )
        except OSError:
            os.close(self._cmd_w)
            os.close(self._resp_r)
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        finally:
            for fd in (*high, log_fd):
                os.close(fd)
        self._closed = False

    # -- the protocol ------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while True:
            nul = self._buffer.find(b"\0")
            if nul >= 0:
                raw, self._buffer = self._buffer[:nul], self._buffer[nul + 1 :]
                return json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no answer from the browser in time; its log:\n{self.log_tail()}")
            ready, _, _ = select.select([self._resp_r], [], [], left)
            if ready:
                chunk = os.read(self._resp_r, 1 << 20)
                if not chunk:
                    raise CDPError(f"the browser closed its pipe; its log:\n{self.log_tail()}")
                self._buffer += chunk

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Send one command and return its result (events arriving meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._cmd_w, data) :]
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(
        self, method: str, session: str | None = None, timeout: float | None = None
    ) -> dict:
        """The first (kept or coming) event named ``method`` of ``session``; it is consumed."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self._events.pop(i)["params"]
            message = self._read_message(deadline)
            if "method" in message:
                self._events.append(message)

    def new_page(self) -> Page:
        """A new tab, attached, with page events enabled."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session, target)
        page.call("Page.enable")
        page.call("Runtime.enable")
        return page

    def log_tail(self, lines: int = 30) -> str:
        """The end of the browser's stdout and stderr."""
        try:
            with open(self._log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- life cycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the browser (politely, then by force), reap it, remove its directory."""
        if self._closed:
            return
        self._closed = True
        try:
            self.call("Browser.close", timeout=5)
        except (CDPError, OSError):
            pass
        # Wait for the browser to exit without reaping it: while it is a zombie its pid, and so
        # the id of the process group it leads, cannot be reused by anybody else.
        deadline = time.monotonic() + 10
        while os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        try:  # the browser if it hung, and helpers (zygote, renderers) left in its group
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self._cmd_w)
        os.close(self._resp_r)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One attached tab."""

    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.console: list[str] = []

    def call(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        """A command in this tab's session."""
        return self.browser.call(method, params, self.session, timeout)

    def goto(self, url: str, timeout: float | None = None) -> None:
        """Navigate and wait for the load event."""
        # Drop load events of earlier navigations.
        self.browser._events = [
            e
            for e in self.browser._events
            if not (e["method"] == "Page.loadEventFired" and e.get("sessionId") == self.session)
        ]
        result = self.call("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, timeout)

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """The value of a JavaScript expression (promises awaited); a thrown error raises."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"script error: {text}\nin: {expression[:200]}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"timed out waiting for {what or expression[:120]}")
            time.sleep(0.05)

    def errors(self) -> list[str]:
        """Uncaught exceptions reported by the page so far."""
        out = []
        for e in self.browser._events:
            if e.get("sessionId") == self.session and e["method"] == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", ""))
        return out

    def click(self, x: float, y: float) -> None:
        """A left click at viewport coordinates (move, press, release: what a mouse sends)."""
        for kind, extra in (
            ("mouseMoved", {}),
            ("mousePressed", {"clickCount": 1}),
            ("mouseReleased", {"clickCount": 1}),
        ):
            params = {"type": kind, "x": x, "y": y, "button": "left", **extra}
            if kind == "mouseMoved":
                params["button"] = "none"
            self.call("Input.dispatchMouseEvent", params)

    def type_text(self, selector: str, text: str) -> None:
        """Focus the element and type ``text`` into it (input events as from a keyboard)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text})

    def text(self, selector: str = "body") -> str:
        """The rendered text of the first element matching ``selector``."""
        return self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText"
        )
