"""The user-space readers on real interpreters and on fake (hostile) memory: process memory,
interpreter discovery, thread states, code objects."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
import subprocess

import pytest

from profiler.process.maps import ProcessMaps
from profiler.python.code_objects import UNKNOWN_CODE, CodeObjects
from profiler.python.errors import InterpreterNotFound, MemoryReadError
from profiler.python.interpreter import find_interpreter, interpreter_at
from profiler.python.layouts import table_layout
from profiler.python.memory import MAX_READ, ProcessMemory
from profiler.python.threads import kernel_thread_map, thread_states
from tests.support import wait_for

from . import interpreters as I

# A child that starts threads, then prints what we must find: thread ids and code objects.
CHILD = r"""
import json, sys, threading
def busy_function_name(x):
    return x + 1
class Holder:
    def método(self):
        return 1
ready = threading.Barrier(4)
stop = threading.Event()
def worker():
    ready.wait()
    stop.wait()
threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads:
    t.start()
ready.wait()
codes = [busy_function_name.__code__, Holder.método.__code__]
info = {
    "pid_tids": [threading.get_native_id()] + [t.native_id for t in threads],
    "codes": [[id(c), c.co_qualname, c.co_name, c.co_filename, c.co_firstlineno] for c in codes],
}
print(json.dumps(info), flush=True)
sys.stdin.read()
stop.set()
"""


def _start(interp: I.Interp, script_dir: tuple[str, str]) -> tuple[subprocess.Popen, dict]:
    outer, inner = script_dir
    with open(os.path.join(outer, "child.py"), "x") as f:
        f.write(CHILD)
    child = subprocess.Popen(
        [*interp.argv, os.path.join(inner, "child.py")], stdin=-1, stdout=-1, text=True
    )
    return child, json.loads(child.stdout.readline())


def discover(pid: int, memory=None):
    """``find_interpreter`` as a session calls it: on a fresh maps snapshot of ``pid``."""
    memory = memory if memory is not None else ProcessMemory(pid)
    return find_interpreter(pid, ProcessMaps.read(pid), memory, os.readlink(f"/proc/{pid}/exe"))


INTERPRETERS = [I.DEBIAN_311, I.PYENV_311, I.PYENV_312, I.PYENV_313]


def _interp(which):
    if which == "chroot-3.13":
        return I.require(I.chrooted(I.debian_roots.PYTHON313))
    if which == "chroot-3.14":
        return I.require(I.chrooted(I.debian_roots.PYTHON314))
    return I.require(which)


@pytest.mark.parametrize(
    "which",
    [*INTERPRETERS, "chroot-3.13", "chroot-3.14"],
    ids=lambda w: w if isinstance(w, str) else w.name,
)
def test_interpreter_threads_and_code_objects(which):
    """Discovery, every thread's state, and code objects named as the interpreter names them."""
    interp = _interp(which)
    with interp.script_dir() as where:
        child, info = _start(interp, where)
        try:
            memory = ProcessMemory(child.pid)
            found = discover(child.pid, memory)
            states = thread_states(found, memory)
            kernel = kernel_thread_map(found, memory)
            codes = CodeObjects(memory, found.layout, found.code_type)
            named = [codes.get(c[0], c[4]) for c in info["codes"]]
            stale = codes.get(info["codes"][0][0], info["codes"][0][4] + 1)
        finally:
            child.communicate("")
    assert found.eval_ranges and found.code_type
    assert sorted(states) == sorted(info["pid_tids"])  # same PID namespace: chroot is not one
    assert sorted(kernel) == sorted(info["pid_tids"])
    for got, (_, qualname, name, filename, first) in zip(named, info["codes"], strict=True):
        assert (got.qualname, got.name, got.filename, got.first_line) == (
            qualname,
            name,
            filename,
            first,
        )
        assert got.line_at(0) == first  # RESUME: on the def line
    assert stale is UNKNOWN_CODE  # a first line that does not match: not this code object


def test_python_310_is_found_and_declined_with_its_version():
    interp = I.require(I.PYENV_310)
    child = subprocess.Popen(
        [*interp.argv, "-c", "print(1, flush=True); import sys; sys.stdin.read()"],
        stdin=-1,
        stdout=-1,
    )
    try:
        child.stdout.readline()  # running (its runtime initialised)
        with pytest.raises(InterpreterNotFound) as caught:
            discover(child.pid)
    finally:
        child.communicate(b"")
    assert caught.value.version >> 16 == 0x030A and "3.11" in caught.value.reason


def test_a_process_without_python_is_not_one():
    child = subprocess.Popen(["sleep", "5"])
    try:
        wait_for(lambda: os.readlink(f"/proc/{child.pid}/exe").endswith("sleep"), what="exec")
        with pytest.raises(InterpreterNotFound, match="no CPython") as caught:
            discover(child.pid)
        assert caught.value.version == 0 and not caught.value.retry
    finally:
        child.kill()
        child.wait()


def test_memory_reads_and_their_failures():
    data = ctypes.create_string_buffer(b"0123456789abcdef" * 64)
    address = ctypes.addressof(data)
    memory = ProcessMemory(os.getpid())
    assert memory.read(address, 16) == b"0123456789abcdef"
    # One unreadable range in a batch costs only that range.
    out = memory.read_many([(address, 4), (4096, 8), (address + 16, 4), (address, MAX_READ + 1)])
    assert out == [b"0123", None, b"0123", None]
    with pytest.raises(MemoryReadError) as caught:
        memory.read(4096, 8)
    assert caught.value.errno == errno.EFAULT
    with pytest.raises(MemoryReadError):
        memory.read(address, MAX_READ + 1)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(MemoryReadError) as caught:
        ProcessMemory(gone.pid).read(address, 8)
    assert caught.value.errno == errno.ESRCH


class FakeMemory:
    """Memory made of byte ranges; anything else is unmapped."""

    pid = 1

    def __init__(self, ranges: dict[int, bytes]) -> None:
        self.ranges = ranges

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.ranges.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise MemoryReadError(errno.EFAULT, "unmapped")

    def read_many(self, requests):
        out = []
        for address, size in requests:
            try:
                out.append(self.read(address, size))
            except MemoryReadError:
                out.append(None)
        return out


LAYOUT = table_layout(0x030B07F0)
CODE_TYPE = 0x7000


def _code(at: int, first_line: int, name_at: int, table_at: int, ob_type: int = CODE_TYPE):
    raw = bytearray(LAYOUT.code_adaptive + 8)
    struct.pack_into("<Q", raw, LAYOUT.ob_type, ob_type)
    struct.pack_into("<i", raw, LAYOUT.code_firstlineno, first_line)
    for off in (LAYOUT.code_filename, LAYOUT.code_name, LAYOUT.code_qualname):
        struct.pack_into("<Q", raw, off, name_at)
    struct.pack_into("<Q", raw, LAYOUT.code_linetable, table_at)
    return {at: bytes(raw)}


def _ascii(at: int, text: bytes, length: int | None = None):
    raw = bytearray(LAYOUT.unicode_ascii_data)
    struct.pack_into("<q", raw, LAYOUT.unicode_length, len(text) if length is None else length)
    struct.pack_into("<I", raw, LAYOUT.unicode_state, (1 << 2) | (1 << 5) | (1 << 6))
    return {at: bytes(raw) + text}


def _bytes_obj(at: int, payload: bytes, size: int | None = None):
    raw = bytearray(LAYOUT.bytes_data)
    struct.pack_into("<q", raw, LAYOUT.bytes_size, len(payload) if size is None else size)
    return {at: bytes(raw) + payload}


def test_code_objects_from_hostile_memory():
    ranges = {}
    ranges.update(_code(0x10000, 5, 0x20000, 0x30000))
    ranges.update(_ascii(0x20000, b"f"))
    ranges.update(_bytes_obj(0x30000, bytes([0x80 | (10 << 3), 0, 0])))
    codes = CodeObjects(FakeMemory(ranges), LAYOUT, CODE_TYPE)
    good = codes.get(0x10000, 5)
    assert (good.qualname, good.filename, good.first_line, good.line_at(0)) == ("f", "f", 5, 5)
    # Not a code object (another type), unmapped, a string claiming 2^60 characters, a line
    # table claiming a petabyte: named unknown or cut, never read past the bounds.
    ranges.update(_code(0x11000, 5, 0x21000, 0x31000, ob_type=0x7008))
    ranges.update(_code(0x12000, 6, 0x21000, 0x31000))
    ranges.update(_ascii(0x21000, b"x" * 2000, length=1 << 60))
    ranges.update(_bytes_obj(0x31000, b"\x80", size=1 << 50))
    codes = CodeObjects(FakeMemory(ranges), LAYOUT, CODE_TYPE)
    assert codes.get(0x11000, 5) is UNKNOWN_CODE
    assert codes.get(0x99000, 5) is UNKNOWN_CODE
    hostile = codes.get(0x12000, 6)
    assert hostile.qualname == "x" * 1024 and hostile.lines is None
    assert codes.failures == 2


def test_free_threaded_builds_are_detected_and_declined():
    """A 3.13t/3.14t ``_Py_DebugOffsets`` says ``free_threaded``: reported with its version,
    not walked (no such build on this machine: the struct is made here, per its header)."""
    from profiler.python.layouts import DEBUG_OFFSETS_FIELDS

    names = DEBUG_OFFSETS_FIELDS[14]
    values = dict.fromkeys(names, 8)
    values["version"] = 0x030E00F0
    values["free_threaded"] = 1
    runtime = b"xdebugpy" + struct.pack(f"<{len(names)}Q", *(values[n] for n in names))
    memory = FakeMemory({0x1000: runtime + bytes(1024), 0x9000: struct.pack("<I", 0x030E00F0)})
    symbols = {"_PyRuntime": (0x1000, 0), "Py_Version": (0x9000, 4)}
    with pytest.raises(InterpreterNotFound, match="free-threaded") as caught:
        interpreter_at(1, memory, symbols, 0, "/usr/bin/python3.14t")
    assert caught.value.version == 0x030E00F0
