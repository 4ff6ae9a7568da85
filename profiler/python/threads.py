"""The thread states of an interpreter: which ``PyThreadState`` runs on which kernel thread.

The in-kernel frame walk starts from a thread's ``PyThreadState``; it finds it in a map keyed by
the kernel's thread id, which user space fills from the interpreter's own list
(``_PyRuntime.interpreters.head -> interp->threads.head -> tstate->next``), re-read every drain so
a thread started mid-profile is walked from the next drain on. ``native_thread_id`` is the id in
the process's PID namespace; in a container it differs from the kernel's (host) id, so ids are
translated by the process layer (:func:`profiler.process.threads.host_thread_ids`).

Everything here is read from the target: lists are bounded (:data:`MAX_INTERPRETERS`,
:data:`MAX_THREADS`) and cycles stop the walk. Errors: :class:`~.errors.MemoryReadError` only.
"""

from __future__ import annotations

import struct

from ..process.threads import host_thread_ids
from .interpreter import Interpreter
from .memory import MemoryReader

MAX_INTERPRETERS = 64
MAX_THREADS = 4096


def interpreter_states(interp: Interpreter, memory: MemoryReader) -> list[int]:
    """Addresses of the interpreter states (the main one first)."""
    lay = interp.layout
    out: list[int] = []
    address = struct.unpack("<Q", memory.read(interp.runtime + lay.runtime_interpreters_head, 8))[0]
    while address and len(out) < MAX_INTERPRETERS and address not in out:
        out.append(address)
        address = struct.unpack("<Q", memory.read(address + lay.interp_next, 8))[0]
    return out


def thread_states(interp: Interpreter, memory: MemoryReader) -> dict[int, int]:
    """``native_thread_id -> PyThreadState address`` of every thread of every interpreter.

    Thread ids are the process's own (its PID namespace). Each tstate costs one read (of the
    fields up to ``native_thread_id``), so a drain's refresh is a few system calls.
    """
    lay = interp.layout
    span = max(lay.tstate_next, lay.tstate_native_thread_id) + 8
    out: dict[int, int] = {}
    seen: set[int] = set()
    for istate in interpreter_states(interp, memory):
        head = memory.read(istate + lay.interp_threads_head, 8)
        tstate = struct.unpack("<Q", head)[0]
        while tstate and tstate not in seen and len(seen) < MAX_THREADS:
            seen.add(tstate)
            raw = memory.read(tstate, span)
            native = struct.unpack_from("<Q", raw, lay.tstate_native_thread_id)[0]
            if 0 < native < 1 << 32:
                out.setdefault(native, tstate)  # a tid twice: the first (newest) state wins
            tstate = struct.unpack_from("<Q", raw, lay.tstate_next)[0]
    return out


def kernel_thread_map(
    interp: Interpreter, memory: MemoryReader, proc: str = "/proc"
) -> dict[int, int]:
    """``host tid -> PyThreadState address``: what the in-kernel walk looks threads up by."""
    states = thread_states(interp, memory)
    if not states:
        return {}
    hosts = host_thread_ids(interp.pid, proc)
    return {hosts[native]: tstate for native, tstate in states.items() if native in hosts}
