"""What the CPython frame walk and its user-space readers share: the layouts, declared once.

The walk (:mod:`.python_walk`) reads and fills these structs at the offsets the layouts give;
user space (:mod:`.python_stacks`, :mod:`profiler.python.tracker`) packs and unpacks them with
the same layouts (``pybpf.structs``). The stats array's slots are the members of
:class:`PyStat`, named as the keys of ``DrainStats.python``.
"""

from __future__ import annotations

import enum

from pybpf.structs import array, struct_type, u8, u32, u64

MAX_FRAMES = 128  # Python frames stored per stack (a power of two: the slot index is masked)
MAX_STEPS = 2 * MAX_FRAMES  # frames visited (entry frames of the C stack are visited, not kept)
FRAME_READ = 80  # bytes of _PyInterpreterFrame read per frame (every field we use is below)
MAX_LAYOUTS = 16  # distinct interpreter layouts at once (one per CPython build seen)
NONE = 0xFFFFFFFF  # a layout offset the version does not have

# A frame's ``word``: the code object's first line (the user-space cache's guard against a
# freed and reused code object) in 31 bits, and on top the *run end* flag: this frame is the
# outermost one its ``_PyEval_EvalFrameDefault`` call ran.
RUN_END = 1 << 31
FIRST_LINE_MASK = RUN_END - 1
# A stack value's flags.
FLAG_CUT = 1  # the stack had more frames than MAX_FRAMES / MAX_STEPS: the outermost are lost
FLAG_READ_ERROR = 2  # a frame could not be read: the stack ends there

# A sample's Python stack id: the stack's hash in the low 61 bits, the thread's state on top.
HASH_BITS = 61
HASH_MASK = (1 << HASH_BITS) - 1
STATE_KNOWN = 1 << 61  # the GIL could be read
STATE_GIL = 1 << 62  # the sampled thread held the GIL
STATE_GC = 1 << 63  # the interpreter was collecting garbage

# py_threads: kernel tid -> where its frames start. ``tgid`` guards against a tid reused by
# another process; ``gil`` is the address of the GIL's ``last_holder`` (its ``locked`` int
# follows 8 bytes on), ``gc`` that of the interpreter's ``gc.collecting`` (0: unknown).
ThreadEntry = struct_type("ThreadEntry", tstate=u64, layout_id=u32, tgid=u32, gil=u64, gc=u64)

# py_layouts: the offsets the walk uses, one entry per interpreter layout (u32 each; NONE:
# absent), and the bits of a frame's code pointer that are the address (3.14 tags it).
WalkLayout = struct_type(
    "WalkLayout",
    tstate_frame=u32,  # 3.11/3.12: tstate->cframe; 3.13+: tstate->current_frame
    cframe_current=u32,  # 3.11/3.12: _PyCFrame.current_frame; else NONE
    code=u32,  # f_code / f_executable
    previous=u32,
    instr=u32,  # prev_instr / instr_ptr
    owner=u32,
    is_entry=u32,  # 3.11 only
    owner_cstack=u32,  # entry frames of the C stack end a run (3.12+)
    owner_skip=u32,  # 3.14: a thread's base frame (FRAME_OWNED_BY_INTERPRETER): skipped
    code_adaptive=u32,  # co_code_adaptive: instruction pointers point into it
    firstlineno=u32,
    code_mask=u64,
)

# One stored frame, leaf first: the code object, the instruction's byte offset in its bytecode
# (a signed difference in 32 bits) and the word (first line | RUN_END).
PyFrame = struct_type("PyFrame", code=u64, offset=u32, word=u32)

# py_stacks: {hash, tgid} -> the walked frames.
StackKey = struct_type("StackKey", hash=u64, tgid=u32, pad=u32)
StackValue = struct_type("StackValue", count=u32, flags=u32, frames=array(PyFrame, MAX_FRAMES))

# py_scratch (per CPU): the value being built, then the walk's own state.
Scratch = struct_type("Scratch", value=StackValue, hash=u64, ptr=u64, frame=array(u8, FRAME_READ))


class PyStat(enum.IntEnum):
    """Slots of the per-CPU ``py_stats`` array (u64 each); names are ``DrainStats.python``
    keys."""

    WALKS = 0  # samples of a thread with a known PyThreadState
    STACKS = 1  # ... that gave at least one Python frame
    CUT = 2  # stacks cut at MAX_FRAMES / MAX_STEPS
    READ_ERRORS = 3  # a read of the target failed mid-walk
    STACKS_FULL = 4  # py_stacks had no room: the sample kept no Python frames
    NO_LAYOUT = 5  # the thread's layout id had no entry (a bug, counted not hidden)

    @property
    def key(self) -> str:
        """The ``DrainStats.python`` key this slot adds up to."""
        return self.name.lower()
