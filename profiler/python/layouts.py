"""Where CPython keeps what a stack walk needs: structure offsets per interpreter version.

3.11 and 3.12 come from a small table derived from CPython's headers; 3.13 and later from the
running interpreter itself: ``_PyRuntime`` begins with ``_Py_DebugOffsets`` (cookie ``xdebugpy``)
whose fields are ``offsetof`` values compiled into that very build, so patch releases and unusual
builds need no table. Only the layout of ``_Py_DebugOffsets`` itself changes between minor
versions (its header says so); :data:`DEBUG_OFFSETS_FIELDS` holds that per minor version.

Sources (read at the release tags, and checked by ``tests/python_stacks/test_layouts.py``, which
compiles ``offsetof`` against the installed headers of each version on this machine):

- 3.11: ``Include/internal/pycore_frame.h`` (``_PyInterpreterFrame``: ``f_code``,
  ``previous``, ``prev_instr``, ``is_entry``), ``Include/cpython/pystate.h`` (``PyThreadState``,
  ``_PyCFrame``), ``Include/internal/pycore_interp.h`` (``PyInterpreterState``),
  ``Include/internal/pycore_runtime.h`` (``_PyRuntimeState``), ``Include/cpython/code.h``
  (``PyCodeObject``), ``Include/cpython/unicodeobject.h`` — tag v3.11.7 (and Debian's 3.11.2).
- 3.12: the same files at tag v3.12.1 (``f_code`` moved to offset 0, ``is_entry`` replaced by
  ``owner == FRAME_OWNED_BY_CSTACK`` entry frames, ``_PyCFrame.current_frame`` at 0).
- 3.13: ``Include/internal/pycore_runtime.h`` (``_Py_DebugOffsets``), tag v3.13.0;
  3.14: ``Include/internal/pycore_debug_offsets.h``, tag v3.14.0 (read from Debian's 3.14.10
  headers; ``f_executable`` is a ``_PyStackRef`` whose low bit tags a deferred reference, and
  ``enum _frameowner`` gained ``FRAME_OWNED_BY_INTERPRETER = 3`` before ``CSTACK = 4``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from .errors import UnsupportedPython

NONE = 0xFFFFFFFF  # an offset the version does not have


@dataclass(frozen=True)
class Layout:
    """The offsets (bytes) a frame walk and the user-space readers need, for one interpreter."""

    version: int  # PY_VERSION_HEX, e.g. 0x030B07F0
    free_threaded: bool
    # _PyRuntimeState
    runtime_interpreters_head: int
    # PyInterpreterState
    interp_next: int
    interp_threads_head: int
    interp_gc: int  # the embedded struct _gc_runtime_state
    gc_collecting: int  # ... its ``collecting`` field
    # The GIL: where its state lives ("runtime" 3.11, "interp_ptr" 3.12 via interp->ceval.gil,
    # "interp" 3.13+ embedded in the interpreter), and its ``locked``/``last_holder`` fields.
    gil_base: str
    gil_ptr: int  # 3.12: offset of ``ceval.gil`` in the interpreter; else NONE
    gil_locked: int
    gil_holder: int
    # PyThreadState
    tstate_next: int
    tstate_interp: int
    tstate_frame: int  # 3.11/3.12: ``cframe`` (a pointer); 3.13+: ``current_frame``
    cframe_current_frame: int  # 3.11/3.12: offset of ``current_frame`` in _PyCFrame; else NONE
    tstate_thread_id: int
    tstate_native_thread_id: int
    # _PyInterpreterFrame
    frame_code: int  # f_code / f_executable
    frame_previous: int
    frame_instr: int  # prev_instr (3.11/3.12) / instr_ptr (3.13+)
    frame_owner: int
    frame_is_entry: int  # 3.11 only; else NONE
    owner_cstack: int  # the ``owner`` of entry frames on the C stack (3.12+); else NONE
    owner_interpreter: int  # 3.14: FRAME_OWNED_BY_INTERPRETER (a thread's base frame); else NONE
    code_tag_mask: int  # bits of f_executable that are tags, not address (3.14: 1)
    # PyCodeObject
    code_filename: int
    code_name: int
    code_qualname: int
    code_linetable: int
    code_firstlineno: int
    code_adaptive: int  # co_code_adaptive: the bytecode instr pointers point into
    code_firsttraceable: int  # _co_firsttraceable (3.11/3.12); NONE from the debug offsets
    # Objects
    ob_type: int
    unicode_state: int
    unicode_length: int
    unicode_ascii_data: int  # sizeof(PyASCIIObject): a compact ASCII string's characters
    unicode_compact_data: int  # sizeof(PyCompactUnicodeObject): other compact strings
    bytes_size: int
    bytes_data: int

    @property
    def minor(self) -> int:
        """The minor version (11 for 3.11)."""
        return (self.version >> 16) & 0xFF

    @property
    def version_text(self) -> str:
        """``3.11.7`` (plus the release level when not final)."""
        major, minor, micro = (
            self.version >> 24,
            (self.version >> 16) & 0xFF,
            (self.version >> 8) & 0xFF,
        )
        level = (self.version >> 4) & 0xF
        suffix = {0xA: "a", 0xB: "b", 0xC: "rc"}.get(level, "")
        serial = self.version & 0xF
        return (
            f"{major}.{minor}.{micro}"
            + (f"{suffix}{serial}" if suffix else "")
            + ("t" if self.free_threaded else "")
        )


# 3.11 (offsets on x86_64 and aarch64 alike: LP64, the same alignment rules).
_PY311 = Layout(
    version=0x030B0000,
    free_threaded=False,
    runtime_interpreters_head=40,
    interp_next=0,
    interp_threads_head=16,
    interp_gc=648,
    gc_collecting=200,
    gil_base="runtime",
    gil_ptr=NONE,
    gil_locked=376,  # _PyRuntime.ceval.gil.locked
    gil_holder=368,  # _PyRuntime.ceval.gil.last_holder
    tstate_next=8,
    tstate_interp=16,
    tstate_frame=56,  # cframe
    cframe_current_frame=8,  # after ``uint8_t use_tracing``
    tstate_thread_id=152,
    tstate_native_thread_id=160,
    frame_code=32,
    frame_previous=48,
    frame_instr=56,
    frame_owner=69,
    frame_is_entry=68,
    owner_cstack=NONE,
    owner_interpreter=NONE,
    code_tag_mask=0,
    code_filename=112,
    code_name=120,
    code_qualname=128,
    code_linetable=136,
    code_firstlineno=72,
    code_adaptive=184,
    code_firsttraceable=168,
    ob_type=8,
    unicode_state=32,
    unicode_length=16,
    unicode_ascii_data=48,  # PyASCIIObject still has ``wstr`` in 3.11
    unicode_compact_data=72,
    bytes_size=16,
    bytes_data=32,
)

_PY312 = replace(
    _PY311,
    version=0x030C0000,
    interp_threads_head=72,
    interp_gc=112,
    gil_base="interp_ptr",
    gil_ptr=384,  # interp->ceval.gil (struct _gil_runtime_state *)
    gil_locked=16,
    gil_holder=8,
    tstate_frame=56,
    cframe_current_frame=0,
    tstate_thread_id=136,
    tstate_native_thread_id=144,
    frame_code=0,
    frame_previous=8,
    frame_instr=56,
    frame_owner=70,
    frame_is_entry=NONE,
    owner_cstack=3,  # FRAME_OWNED_BY_CSTACK
    code_firstlineno=68,
    code_adaptive=192,
    code_firsttraceable=176,
    unicode_ascii_data=40,
    unicode_compact_data=56,
)

TABLE = {11: _PY311, 12: _PY312}
FIRST_SUPPORTED = 11
DEBUG_COOKIE = b"xdebugpy"

# The fields of _Py_DebugOffsets, in order, per minor version (all u64 after the 8-byte cookie).
_FIELDS_313 = (
    "version free_threaded "
    "rt.size rt.finalizing rt.interpreters_head "
    "is.size is.id is.next is.threads_head is.gc is.imports_modules is.sysdict is.builtins "
    "is.ceval_gil is.gil_runtime_state is.gil_enabled is.gil_locked is.gil_holder "
    "ts.size ts.prev ts.next ts.interp ts.current_frame ts.thread_id ts.native_thread_id "
    "ts.datastack_chunk ts.status "
    "fr.size fr.previous fr.executable fr.instr_ptr fr.localsplus fr.owner "
    "co.size co.filename co.name co.qualname co.linetable co.firstlineno co.argcount "
    "co.localsplusnames co.localspluskinds co.co_code_adaptive "
    "ob.size ob.ob_type "
    "ty.size ty.tp_name ty.tp_repr ty.tp_flags "
    "tu.size tu.ob_item tu.ob_size "
    "li.size li.ob_item li.ob_size "
    "di.size di.ma_keys di.ma_values "
    "fl.size fl.ob_fval "
    "lo.size lo.lv_tag lo.ob_digit "
    "by.size by.ob_size by.ob_sval "
    "un.size un.state un.length un.asciiobject_size "
    "gc.size gc.collecting"
).split()
_FIELDS_314 = (
    "version free_threaded "
    "rt.size rt.finalizing rt.interpreters_head "
    "is.size is.id is.next is.threads_head is.threads_main is.gc is.imports_modules "
    "is.sysdict is.builtins is.ceval_gil is.gil_runtime_state is.gil_enabled is.gil_locked "
    "is.gil_holder is.code_object_generation is.tlbc_generation "
    "ts.size ts.prev ts.next ts.interp ts.current_frame ts.thread_id ts.native_thread_id "
    "ts.datastack_chunk ts.status "
    "fr.size fr.previous fr.executable fr.instr_ptr fr.localsplus fr.owner fr.stackpointer "
    "fr.tlbc_index "
    "co.size co.filename co.name co.qualname co.linetable co.firstlineno co.argcount "
    "co.localsplusnames co.localspluskinds co.co_code_adaptive co.co_tlbc "
    "ob.size ob.ob_type "
    "ty.size ty.tp_name ty.tp_repr ty.tp_flags "
    "tu.size tu.ob_item tu.ob_size "
    "li.size li.ob_item li.ob_size "
    "se.size se.used se.table se.mask "
    "di.size di.ma_keys di.ma_values "
    "fl.size fl.ob_fval "
    "lo.size lo.lv_tag lo.ob_digit "
    "by.size by.ob_size by.ob_sval "
    "un.size un.state un.length un.asciiobject_size "
    "gc.size gc.collecting"
).split()
DEBUG_OFFSETS_FIELDS = {13: _FIELDS_313, 14: _FIELDS_314}
# Frame owners: 3.13 as 3.12 (CSTACK = 3); 3.14 inserted INTERPRETER = 3, CSTACK = 4.
_OWNERS = {13: (3, NONE), 14: (4, 3)}
# Bytes of _Py_DebugOffsets to read: the largest layout we know, rounded up.
DEBUG_OFFSETS_SIZE = 8 + 8 * max(len(f) for f in DEBUG_OFFSETS_FIELDS.values())


def version_minor(version: int) -> int:
    """The minor version of a ``PY_VERSION_HEX``."""
    return (version >> 16) & 0xFF


def table_layout(version: int) -> Layout:
    """The tabled layout for ``version`` (3.11 or 3.12), or :class:`UnsupportedPython`."""
    if version >> 24 != 3:
        raise UnsupportedPython(f"not a CPython 3 version: {version:#x}")
    minor = version_minor(version)
    base = TABLE.get(minor)
    if base is None and minor > max(TABLE):
        raise UnsupportedPython(f"CPython 3.{minor}: its layout comes from _Py_DebugOffsets")
    if base is None:
        raise UnsupportedPython(
            f"CPython 3.{minor}: frames are walked for 3.{FIRST_SUPPORTED} and later"
        )
    return replace(base, version=version)


def debug_offsets_layout(raw: bytes) -> Layout:
    """The layout described by ``_Py_DebugOffsets`` (``raw``: its bytes, cookie first).

    Raises :class:`UnsupportedPython` when the cookie is wrong, the minor version's layout of
    the struct is unknown, or the offsets are implausible (all are bounded: a target writes them).
    """
    if raw[:8] != DEBUG_COOKIE:
        raise UnsupportedPython("no _Py_DebugOffsets cookie at _PyRuntime")
    if len(raw) < 24:
        raise UnsupportedPython("_Py_DebugOffsets truncated")
    version = struct.unpack_from("<Q", raw, 8)[0]
    minor = version_minor(version)
    names = DEBUG_OFFSETS_FIELDS.get(minor)
    if names is None or version >> 24 != 3:
        known = ", ".join(f"3.{m}" for m in sorted(DEBUG_OFFSETS_FIELDS))
        raise UnsupportedPython(
            f"_Py_DebugOffsets of version {version:#x}: its layout is known for {known}"
        )
    if len(raw) < 8 + 8 * len(names):
        raise UnsupportedPython("_Py_DebugOffsets truncated")
    values = dict(zip(names, struct.unpack_from(f"<{len(names)}Q", raw, 8), strict=True))
    for name, value in values.items():
        # Every offset is into a structure of at most a few hundred KiB (PyInterpreterState is
        # the largest); anything bigger is corrupt or hostile.
        if name not in ("version", "free_threaded") and value > 1 << 20:
            raise UnsupportedPython(f"_Py_DebugOffsets.{name} = {value:#x} is implausible")
    cstack, interpreter = _OWNERS[minor]
    ascii_size = values["un.asciiobject_size"]
    return Layout(
        version=version,
        free_threaded=bool(values["free_threaded"]),
        runtime_interpreters_head=values["rt.interpreters_head"],
        interp_next=values["is.next"],
        interp_threads_head=values["is.threads_head"],
        interp_gc=values["is.gc"],
        gc_collecting=values["gc.collecting"],
        gil_base="interp",
        gil_ptr=NONE,
        gil_locked=values["is.gil_locked"],
        gil_holder=values["is.gil_holder"],
        tstate_next=values["ts.next"],
        tstate_interp=values["ts.interp"],
        tstate_frame=values["ts.current_frame"],
        cframe_current_frame=NONE,
        tstate_thread_id=values["ts.thread_id"],
        tstate_native_thread_id=values["ts.native_thread_id"],
        frame_code=values["fr.executable"],
        frame_previous=values["fr.previous"],
        frame_instr=values["fr.instr_ptr"],
        frame_owner=values["fr.owner"],
        frame_is_entry=NONE,
        owner_cstack=cstack,
        owner_interpreter=interpreter,
        code_tag_mask=1 if minor >= 14 else 0,  # _PyStackRef: Py_TAG_BITS
        code_filename=values["co.filename"],
        code_name=values["co.name"],
        code_qualname=values["co.qualname"],
        code_linetable=values["co.linetable"],
        code_firstlineno=values["co.firstlineno"],
        code_adaptive=values["co.co_code_adaptive"],
        code_firsttraceable=NONE,
        ob_type=values["ob.ob_type"],
        unicode_state=values["un.state"],
        unicode_length=values["un.length"],
        unicode_ascii_data=ascii_size,
        # PyCompactUnicodeObject = PyASCIIObject + utf8_length + utf8 (3.12 and later).
        unicode_compact_data=ascii_size + 16,
        bytes_size=values["by.ob_size"],
        bytes_data=values["by.ob_sval"],
    )
