"""Helpers for the tests of generated cffi modules (pybpf._abi, profiler.process._abi)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def describe(ffi: Any, cdef_functions: list[str]) -> dict[str, Any]:
    """Everything about ``ffi``'s types that matters at run time, as plain data.

    For each named struct, union and typedef: size, alignment and every field's offset, type,
    bit shift and bit size (anonymous unions appear through their flattened fields); for each
    function, its C signature as cffi sees it through ``dlopen(None)``.
    """
    typedefs, structs, unions = ffi.list_types()
    out: dict[str, Any] = {}
    for kind, names in (("", typedefs), ("struct ", structs), ("union ", unions)):
        for name in names:
            ctype = ffi.typeof(kind + name)
            fields = [
                (fname, f.offset, f.type.cname, f.bitshift, f.bitsize)
                for fname, f in (ctype.fields or [])
            ]
            out[kind + name] = (ffi.sizeof(ctype), ffi.alignof(ctype), fields)
    lib = ffi.dlopen(None)
    for name in cdef_functions:
        out[f"function {name}"] = ffi.typeof(getattr(lib, name)).cname
    return out


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a fresh interpreter with this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
