"""Structure offsets: the 3.11/3.12 table against CPython's headers (gcc ``offsetof`` on the
installed headers of each version), 3.13+ from ``_Py_DebugOffsets`` of running interpreters, and
the parser of ``_Py_DebugOffsets`` against corrupt input."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile

import pytest

from profiler.python.errors import UnsupportedPython
from profiler.python.layouts import (
    DEBUG_OFFSETS_FIELDS,
    DEBUG_OFFSETS_SIZE,
    NONE,
    debug_offsets_layout,
    table_layout,
)
from tests.support import require_tool, skip_or_fail

from . import interpreters as I

# offsetof() of every field the table holds, per version (C, compiled against the headers).
ORACLE = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#define P(name, expr) printf("%s %zu\n", name, (size_t)(expr))
int main(void) {
  P("runtime_interpreters_head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_MINOR_VERSION == 11
  P("gil_locked", offsetof(_PyRuntimeState, ceval.gil.locked));
  P("gil_holder", offsetof(_PyRuntimeState, ceval.gil.last_holder));
  P("frame_code", offsetof(_PyInterpreterFrame, f_code));
  P("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
  P("frame_is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
#if PY_MINOR_VERSION == 12
  P("gil_ptr", offsetof(PyInterpreterState, ceval.gil));
  P("gil_locked", offsetof(struct _gil_runtime_state, locked));
  P("gil_holder", offsetof(struct _gil_runtime_state, last_holder));
  P("frame_code", offsetof(_PyInterpreterFrame, f_code));
  P("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#endif
#if PY_MINOR_VERSION >= 13
  P("frame_code", offsetof(_PyInterpreterFrame, f_executable));
  P("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
  P("tstate_frame", offsetof(PyThreadState, current_frame));
  P("gil_locked", offsetof(PyInterpreterState, _gil.locked));
  P("gil_holder", offsetof(PyInterpreterState, _gil.last_holder));
#else
  P("tstate_frame", offsetof(PyThreadState, cframe));
  P("cframe_current_frame", offsetof(_PyCFrame, current_frame));
  P("code_firsttraceable", offsetof(PyCodeObject, _co_firsttraceable));
#endif
  P("interp_next", offsetof(PyInterpreterState, next));
  P("interp_threads_head", offsetof(PyInterpreterState, threads.head));
  P("interp_gc", offsetof(PyInterpreterState, gc));
  P("gc_collecting", offsetof(struct _gc_runtime_state, collecting));
  P("tstate_next", offsetof(PyThreadState, next));
  P("tstate_interp", offsetof(PyThreadState, interp));
  P("tstate_thread_id", offsetof(PyThreadState, thread_id));
  P("tstate_native_thread_id", offsetof(PyThreadState, native_thread_id));
  P("frame_previous", offsetof(_PyInterpreterFrame, previous));
  P("frame_owner", offsetof(_PyInterpreterFrame, owner));
  P("code_filename", offsetof(PyCodeObject, co_filename));
  P("code_name", offsetof(PyCodeObject, co_name));
  P("code_qualname", offsetof(PyCodeObject, co_qualname));
  P("code_linetable", offsetof(PyCodeObject, co_linetable));
  P("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
  P("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
  P("ob_type", offsetof(PyObject, ob_type));
  P("unicode_state", offsetof(PyASCIIObject, state));
  P("unicode_length", offsetof(PyASCIIObject, length));
  P("unicode_ascii_data", sizeof(PyASCIIObject));
  P("unicode_compact_data", sizeof(PyCompactUnicodeObject));
  P("bytes_size", offsetof(PyVarObject, ob_size));
  P("bytes_data", offsetof(PyBytesObject, ob_sval));
  printf("version %lu\n", (unsigned long)PY_VERSION_HEX);
  return 0;
}
"""


def header_offsets(include: str) -> dict[str, int]:
    """``offsetof`` values compiled against the headers in ``include``."""
    gcc = require_tool("gcc")
    if not os.path.exists(os.path.join(include, "internal", "pycore_frame.h")):
        skip_or_fail(f"no CPython internal headers in {include}")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "o.c"), os.path.join(tmp, "o")
        with open(src, "x") as f:
            f.write(ORACLE)
        multiarch = "/usr/include/x86_64-linux-gnu/" + os.path.basename(include)
        subprocess.run(
            [gcc, "-w", f"-I{include}", f"-I{include}/internal", f"-I{multiarch}", src, "-o", exe],
            check=True,
            capture_output=True,
        )
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("interp", [I.DEBIAN_311, I.PYENV_311, I.PYENV_312], ids=lambda i: i.name)
def test_table_matches_the_headers(interp):
    """Every offset of the 3.11/3.12 table is what the compiler computes from that release."""
    expected = header_offsets(interp.include)
    layout = table_layout(expected.pop("version"))
    assert expected, "the oracle printed nothing"
    for name, value in expected.items():
        assert getattr(layout, name) == value, f"{interp.name}: {name}"
    assert (layout.frame_is_entry == NONE) == (layout.minor >= 12)


def _debug_offsets_of(interp: I.Interp) -> bytes:
    """The bytes of _Py_DebugOffsets of a running interpreter, read by itself (ctypes)."""
    code = (
        "import ctypes,sys;"
        "a=ctypes.c_void_p.in_dll(ctypes.pythonapi,'_PyRuntime');"
        f"sys.stdout.write(ctypes.string_at(ctypes.addressof(a),{DEBUG_OFFSETS_SIZE}).hex())"
    )
    return bytes.fromhex(I.run(interp, code))


def test_debug_offsets_313_match_the_headers():
    """3.13: the layout read from a live _Py_DebugOffsets equals the headers' offsetof."""
    interp = I.require(I.PYENV_313)
    layout = debug_offsets_layout(_debug_offsets_of(interp))
    expected = header_offsets(interp.include)
    assert layout.version == expected.pop("version")
    for name, value in expected.items():
        if name == "unicode_compact_data":  # not in _Py_DebugOffsets: derived, checked here
            assert layout.unicode_compact_data == value
            continue
        assert getattr(layout, name) == value, name
    assert layout.owner_cstack == 3 and layout.code_tag_mask == 0


def test_debug_offsets_314_from_debian():
    """3.14 (Debian sid, chroot; no ctypes in -minimal): read from outside by discovery."""
    from .test_readers import discover

    interp = I.require(I.chrooted(I.debian_roots.PYTHON314))
    # It prints once its runtime is up: then discovery must succeed at the first try.
    code = "import sys; print('up', flush=True); sys.stdin.read()"
    child = subprocess.Popen([*interp.argv, "-c", code], stdin=-1, stdout=-1)
    try:
        assert child.stdout.readline().strip() == b"up"
        layout = discover(child.pid).layout
    finally:
        child.communicate(b"")
    assert layout.minor == 14 and not layout.free_threaded
    assert (layout.owner_cstack, layout.owner_interpreter, layout.code_tag_mask) == (4, 3, 1)
    assert layout.frame_code == 0 and layout.frame_previous == 8


def _fake_debug_offsets(minor: int, **changes: int) -> bytes:
    names = DEBUG_OFFSETS_FIELDS[minor]
    values = {name: 8 * i for i, name in enumerate(names)}
    values["version"] = 0x03000000 | minor << 16 | 0xF0
    values["free_threaded"] = 0
    values.update(changes)
    return b"xdebugpy" + struct.pack(f"<{len(names)}Q", *(values[n] for n in names))


def test_debug_offsets_rejects_corrupt_input():
    good = _fake_debug_offsets(13)
    assert debug_offsets_layout(good).minor == 13
    with pytest.raises(UnsupportedPython, match="cookie"):
        debug_offsets_layout(b"ydebugpy" + good[8:])
    with pytest.raises(UnsupportedPython, match="truncated"):
        debug_offsets_layout(good[:100])
    with pytest.raises(UnsupportedPython, match="layout is known"):
        debug_offsets_layout(_fake_debug_offsets(13, version=0x030F00F0))
    with pytest.raises(UnsupportedPython, match="implausible"):
        debug_offsets_layout(_fake_debug_offsets(14, **{"fr.previous": 1 << 40}))


def test_table_rejects_versions_it_has_no_layout_for():
    with pytest.raises(UnsupportedPython, match=r"3\.10"):
        table_layout(0x030A0DF0)
    with pytest.raises(UnsupportedPython):
        table_layout(0x020712F0)
    with pytest.raises(UnsupportedPython, match=r"3\.13"):
        table_layout(0x030D00F0)  # 3.13+ come from _Py_DebugOffsets, not the table
