"""Demangling for the tests: ``profiler.demangle`` when it is there, else binutils' c++filt."""

from __future__ import annotations

import functools
import re
import subprocess

from tests.support import require_tool

_LEGACY_HASH = re.compile(r"::h[0-9a-f]{16}$")


@functools.cache
def demangle(symbol: str) -> str:
    """``symbol`` demangled (Rust legacy hash dropped, like ``profiler.demangle``)."""
    try:
        from profiler.demangle import demangle as ours
    except ImportError:
        ours = None
    if ours is not None:
        return ours(symbol)
    tool = require_tool("c++filt")
    out = subprocess.run([tool, symbol], capture_output=True, text=True, check=True).stdout
    return _LEGACY_HASH.sub("", out.strip())
