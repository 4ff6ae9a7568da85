"""Turn C declarations into a module of pre-parsed cffi type tables (cffi's out-of-line ABI mode).

``FFI.cdef()`` parses C with pycparser on every import: importing pycparser alone costs ~20 ms
of CPU (its lexer compiles large regexes), and parsing pybpf's declarations ~15 ms more. In
out-of-line ABI mode cffi parses the declarations once, at development time, and writes a plain
``.py`` module whose ``ffi`` is built by ``_cffi_backend`` from binary type tables: importing it
needs neither pycparser nor a C compiler. Struct layouts are still computed by cffi at run time
from the field types, exactly as ``cdef()`` does (nothing is checked against a C compiler in
either mode), so layouts, bit-fields and anonymous unions come out the same.

The generated module is committed. :func:`render` gives its text (deterministic: the same
declarations give the same bytes), :func:`main` is the ``--write`` / ``--check`` command line a
declaration module (such as :mod:`pybpf.abi_source`) exposes. A test regenerates it and compares
with the committed file, so a declaration changed without regenerating fails.

Only this module and :func:`runtime_ffi` import the ``cffi`` package (and so pycparser).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HEADER = """\
# Generated: do not edit. Regenerate with `python -m {source_module} --write`
# after changing the declarations there (a test compares this file with a fresh rendering).
# cffi out-of-line ABI mode: the types are pre-parsed, so importing this module needs no
# pycparser and no compiler.
# ruff: noqa
# fmt: off
"""


def runtime_ffi(cdef: str) -> Any:
    """An in-line ``cffi.FFI`` with ``cdef`` parsed now (pycparser): the slow path and fallback."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(cdef)
    return ffi


def render(cdef: str, module_name: str, source_module: str) -> str:
    """The text of the generated module ``module_name`` (e.g. ``"pybpf._abi"``) for ``cdef``.

    ``source_module`` is the dotted name of the module holding the declarations, for the header.
    """
    builder = runtime_ffi(cdef)
    builder.set_source(module_name, None)
    # emit_python_code() takes a path (cffi < 1.16 rejects file objects) and prints a
    # "generating ..." line: write into a private temporary directory, quietly.
    with tempfile.TemporaryDirectory(prefix="abi-codegen-") as tmp:
        target = os.path.join(tmp, "generated.py")
        with contextlib.redirect_stdout(io.StringIO()):
            builder.emit_python_code(target)
        body = Path(target).read_text()
    return HEADER.format(source_module=source_module) + body


def main(
    argv: list[str] | None, *, cdef: str, module_name: str, source_module: str, path: Path
) -> int:
    """Command line of a declaration module: ``--write`` the generated module at ``path``, or
    ``--check`` that it is up to date (exit 1 if not). Returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {source_module}",
        description=f"Write or check {path.name}, the pre-parsed cffi module of {source_module}.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"(re)write {path}")
    action.add_argument("--check", action="store_true", help=f"exit 1 if {path} is stale")
    args = parser.parse_args(argv)
    text = render(cdef, module_name, source_module)
    current = path.read_text() if path.exists() else None
    if args.check:
        if current != text:
            print(f"{path} is stale: run python -m {source_module} --write", file=sys.stderr)
            return 1
        return 0
    if current != text:
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(f"{path} is up to date")
    return 0
