"""Where the viewers the tests open live: Debian's chromium, speedscope from npm, go tool pprof.

./run-tests installs them (apt ``chromium``; ``npm install speedscope@SPEEDSCOPE_VERSION`` into a
cache directory). Missing ones skip through tests.support (and fail under CI=true).
"""

from __future__ import annotations

import os

from tests.support import require_tool, skip_or_fail

SPEEDSCOPE_VERSION = "1.25.0"  # keep in step with ./run-tests


def cache_dir() -> str:
    """The test cache (npm packages): $PUREPROF_TEST_CACHE, else ~/.cache/pureprof-tests."""
    default = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pureprof-tests"
    )
    return os.environ.get("PUREPROF_TEST_CACHE") or default


def chromium() -> str:
    """Debian's chromium launcher (it execs the browser, keeping our pipe fds)."""
    return require_tool("chromium")


def speedscope_release() -> str:
    """The directory of speedscope's built web app (index.html and its assets)."""
    path = os.path.join(cache_dir(), "npm", "node_modules", "speedscope", "dist", "release")
    if not os.path.isfile(os.path.join(path, "index.html")):
        skip_or_fail(
            f"needs speedscope {SPEEDSCOPE_VERSION} from npm in {path} (./run-tests installs it: "
            f"npm install --prefix {os.path.join(cache_dir(), 'npm')} "
            f"speedscope@{SPEEDSCOPE_VERSION})"
        )
    return path


def go() -> str:
    """The go command (for go tool pprof)."""
    return require_tool("go")
