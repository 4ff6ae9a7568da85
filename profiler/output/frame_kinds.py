"""What kind of code a pprof frame is: kernel, native, Python, JIT or async.

One classifier for every output that tells kinds apart (the HTML and SVG flame graphs colour them,
speedscope marks kernel frames). It reads only what the pprof says, so it works on files written
by other tools too. The conventions, in the order they are checked:

- kernel: the location's mapping is ``[kernel.kallsyms]`` (what output.pprof and perf write), or
  the name carries flamegraph.pl's ``_[k]`` suffix (profiles converted from folded stacks);
- async: the function name ends in `` [async]`` (Rust async fn bodies, see docs/async_stacks.md);
- jit: the mapping is ``[jit]`` (frames from ``/tmp/perf-PID.map``), or the ``_[j]`` suffix;
- python: the mapping is ``[python]`` (the interpreter's frames), or no mapping and a ``.py``
  source file (profiles from Python-only profilers);
- native: everything else (compiled code, and unsymbolized addresses).
"""

from __future__ import annotations

from pprof_encoder.profile import Location

KERNEL = "kernel"
NATIVE = "native"
PYTHON = "python"
JIT = "jit"
ASYNC = "async"
# Every kind, in the order a legend lists them.
KINDS = (NATIVE, PYTHON, JIT, ASYNC, KERNEL)

KERNEL_MAPPING = "[kernel.kallsyms]"
JIT_MAPPING = "[jit]"
PYTHON_MAPPING = "[python]"
ASYNC_SUFFIX = " [async]"
_PYTHON_FILES = (".py", ".pyw", ".pyx")


def classify(name: str, filename: str = "", mapping: str | None = None) -> str:
    """The kind of a frame named ``name`` from source ``filename`` in mapping file ``mapping``
    (None: the location has no mapping)."""
    if mapping == KERNEL_MAPPING or name.endswith("_[k]"):
        return KERNEL
    if name.endswith(ASYNC_SUFFIX):
        return ASYNC
    if mapping == JIT_MAPPING or name.endswith("_[j]"):
        return JIT
    if mapping == PYTHON_MAPPING or (mapping is None and filename.endswith(_PYTHON_FILES)):
        return PYTHON
    return NATIVE


def line_kinds(location: Location) -> list[str]:
    """The kind of each line of ``location`` (innermost first, as its lines are)."""
    mapping = location.mapping.filename if location.mapping is not None else None
    return [classify(ln.function.name, ln.function.filename, mapping) for ln in location.lines]
