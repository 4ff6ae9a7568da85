"""Merge CPython frames into a native stack: each ``_PyEval_EvalFrameDefault`` frame becomes the
Python frames it ran.

The kernel walk gives the Python frames leaf first, split into *runs*: the frames one call of
``_PyEval_EvalFrameDefault`` executed (3.11+ runs Python-to-Python calls inside one C call; a C
function that calls back into Python starts a new run). The native stack holds one
``_PyEval_EvalFrameDefault`` frame per run, so the i-th eval frame from the leaf is replaced by
the i-th run, and a C call in the middle keeps both sides::

    native:  [kernel...] list_sort_impl? <eval#1> builtin_sorted <eval#2> pymain_run_python main
    python:  run 1 = key_func             run 2 = handler, main
    merged:  [kernel...] key_func builtin_sorted handler main pymain_run_python main

When the native stack is shorter than the Python one:

- DWARF unwinding stopped early (a JIT trampoline, code without unwind info) or the process keeps
  frame pointers but the chain broke: runs without an eval frame go after the last native frame,
  in order (the native frames between them are what is missing). If the native stack does reach
  the thread's entry (the C library's start functions) an eval frame was not recognised (e.g. a
  ``.cold`` part without a symbol): the runs replace the outermost unnamed frame of the
  interpreter's binary (else they go right after the last recognised one), so the process's
  entry stays at the root.
- Frame pointers of an interpreter built without them (``--unwind fp`` on Debian's python3.11):
  beyond the sampled instruction the native chain is noise, so only the leaf native frame is kept
  (if it is not the interpreter loop itself), then every Python frame.

Perf trampolines (``-X perf``, 3.12+) appear as JIT frames named ``py::...``, and with them every
Python-to-Python call goes through C (``PyObject_Vectorcall`` -> ``py_trampoline_evaluator`` ->
trampoline -> ``_PyEval_EvalFrameDefault``) instead of staying inside one loop. The trampolines
are dropped, and so is a stretch of native frames between two Python frames that holds
``py_trampoline_evaluator`` and only CPython's call plumbing: a process started with ``-X perf``
reads the same as one without.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frames.model import JIT, KERNEL, PYTHON, UNKNOWN, USER, Frame

EVAL_FRAME = "_PyEval_EvalFrameDefault"
TRAMPOLINE_PREFIX = "py::"
# Where a complete user stack ends: the C library's (or the dynamic loader's) entry functions.
ENTRY_LIBRARIES = ("libc.so", "libc-", "ld-linux", "ld-musl", "libc.musl", "libpthread")
TRAMPOLINE_EVALUATOR = "py_trampoline_evaluator"
# CPython's call plumbing: what a Python-to-Python call through a perf trampoline passes.
CALL_PLUMBING = frozenset(
    {
        TRAMPOLINE_EVALUATOR,
        "PyObject_Vectorcall",
        "_PyObject_VectorcallTstate",
        "_PyFunction_Vectorcall",
        "PyObject_Call",
        "_PyObject_Call",
        "_PyEval_Vector",
        "_PyEval_EvalFrame",
    }
)
ENTRY_FUNCTIONS = frozenset(
    {"_start", "__libc_start_main", "__libc_start_call_main", "start_thread", "clone3", "clone"}
)


def is_eval_frame(frame: Frame, ranges: Sequence[tuple[int, int]] = ()) -> bool:
    """Whether ``frame`` is a native frame of the interpreter's bytecode loop: by name, or by
    address in one of ``ranges`` (the loop's parts, named or not; see :mod:`.eval_ranges`)."""
    if frame.inlined or frame.kind not in (USER, UNKNOWN):
        return False
    name = frame.function
    if name.startswith(EVAL_FRAME):
        return True
    if frame.kind == USER and "+0x" not in name:
        return False  # named after another function: not an unnamed part of the loop
    address = frame.address
    for lo, hi in ranges:
        if lo <= address < hi:
            return True
    return False


def _is_trampoline(frame: Frame) -> bool:
    return frame.kind == JIT and frame.function.startswith(TRAMPOLINE_PREFIX)


def reaches_entry(native: Sequence[Frame]) -> bool:
    """Whether the outermost user frame is a thread's or the process's entry (a full stack)."""
    for frame in reversed(native):
        if frame.kind == KERNEL:
            return False
        if frame.kind != USER:
            continue
        base = frame.module_path.rsplit("/", 1)[-1]
        return frame.function in ENTRY_FUNCTIONS or base.startswith(ENTRY_LIBRARIES)
    return False


def _groups(native: Sequence[Frame]) -> list[list[Frame]]:
    """Native frames grouped per real frame: inlined frames with the frame holding them."""
    groups: list[list[Frame]] = []
    current: list[Frame] = []
    for frame in native:
        current.append(frame)
        if not frame.inlined:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def merge(
    native: Sequence[Frame],
    runs: Sequence[Sequence[Frame]],
    *,
    native_reliable: bool = True,
    eval_ranges: Sequence[tuple[int, int]] = (),
) -> list[Frame]:
    """The merged stack, leaf first (see the module docstring).

    ``native``: kernel then user frames, leaf first. ``runs``: the Python runs, innermost first,
    each leaf first. ``native_reliable``: False when the user stack came from frame pointers of
    an interpreter built without them (only its leaf can be trusted).
    """
    if not runs:
        return list(native)
    return fold_trampoline_calls(
        _merge(native, runs, native_reliable=native_reliable, eval_ranges=eval_ranges)
    )


def _merge(
    native: Sequence[Frame],
    runs: Sequence[Sequence[Frame]],
    *,
    native_reliable: bool,
    eval_ranges: Sequence[tuple[int, int]],
) -> list[Frame]:
    groups = [g for g in _groups(native) if not _is_trampoline(g[-1])]
    out: list[Frame] = []
    pending = list(runs)
    if not native_reliable:
        # Kernel frames, then the sampled native function unless it is the bytecode loop.
        for group in groups:
            head = group[-1]
            if head.kind == KERNEL:
                out.extend(group)
                continue
            if not is_eval_frame(head, eval_ranges) and head.kind != PYTHON:
                out.extend(group)
            break
        for run in pending:
            out.extend(run)
        return out
    after_last_eval = -1
    eval_module = ""  # the path of the interpreter's binary
    for group in groups:
        if is_eval_frame(group[-1], eval_ranges) and pending:
            out.extend(pending.pop(0))  # the interpreter's own inlined helpers go with it
            after_last_eval = len(out)
            eval_module = group[-1].module_path
        else:
            out.extend(group)
    if pending:
        rest = [f for run in pending for f in run]
        if after_last_eval >= 0 and reaches_entry(native):
            # An eval frame went unrecognised: most likely an unnamed part of the loop in the
            # interpreter's binary; the runs take the place of the outermost such frame.
            at = None
            for i in range(len(out) - 1, after_last_eval - 1, -1):
                f = out[i]
                if f.module_path == eval_module and (f.kind == UNKNOWN or "+0x" in f.function):
                    at = i
                    break
            if at is None:
                out[after_last_eval:after_last_eval] = rest
            else:
                out[at : at + 1] = rest
        else:
            out.extend(rest)  # the native stack ends early: the outer runs follow it
    return out


def fold_trampoline_calls(frames: list[Frame]) -> list[Frame]:
    """Drop ``py_trampoline_evaluator`` and, between two Python frames, a stretch of native
    frames that is only the call plumbing of a perf trampoline (see the module docstring)."""
    if not any(f.function == TRAMPOLINE_EVALUATOR for f in frames):
        return frames
    out: list[Frame] = []
    i = 0
    n = len(frames)
    while i < n:
        frame = frames[i]
        if frame.kind == PYTHON or not out or out[-1].kind != PYTHON:
            if frame.function != TRAMPOLINE_EVALUATOR:
                out.append(frame)
            i += 1
            continue
        # A native stretch after a Python frame: find where it ends.
        j = i
        while j < n and frames[j].kind != PYTHON:
            j += 1
        stretch = frames[i:j]
        plumbing = j < n and all(f.function in CALL_PLUMBING for f in stretch)
        if not (plumbing and any(f.function == TRAMPOLINE_EVALUATOR for f in stretch)):
            out.extend(f for f in stretch if f.function != TRAMPOLINE_EVALUATOR)
        i = j
    return out


def split_runs(frames: Sequence[Frame], run_ends: Sequence[bool]) -> list[list[Frame]]:
    """Python frames (leaf first) cut into runs after each frame whose ``run_ends`` is True."""
    runs: list[list[Frame]] = []
    current: list[Frame] = []
    for frame, end in zip(frames, run_ends, strict=True):
        current.append(frame)
        if end:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs
