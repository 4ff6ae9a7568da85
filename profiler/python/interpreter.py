"""Find the CPython interpreter in a process: which ELF holds it, where ``_PyRuntime`` is, which
version it is and which structure layout it has.

The interpreter lives in the executable (a static build such as Debian's ``/usr/bin/python3.11``)
or in ``libpython3.X.so`` (pyenv, most embedders). Its file is opened through the process
layer (``ProcessMaps.source``: the very file the process mapped, through ``map_files`` or inside
the process's root with its identity checked), so a process in a container or a chroot is read
as one on the host, and no path of the target's is followed by us. The symbols ``_PyRuntime``,
``Py_Version``, ``PyCode_Type`` and ``_PyEval_EvalFrameDefault`` are looked up with our ELF
reader; their runtime addresses come from the mapping through the one address rule
(:mod:`profiler.elf.address`). The version comes from ``Py_Version`` (3.11+) and, from 3.13,
the layout from ``_Py_DebugOffsets`` at the start of ``_PyRuntime``.

Errors: :class:`~.errors.InterpreterNotFound` only (with ``reason``), whatever failed (no
CPython mapped, an unsupported version or build, an unreadable file or memory).
"""

from __future__ import annotations

import os
import re
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..elf.address import vaddr_of
from ..elf.errors import FormatError
from ..elf.file import ElfFile
from ..elf.symbols import SymbolTable, find_symbols
from ..process.maps import Mapping, ProcessMaps
from .errors import InterpreterNotFound, MemoryReadError, UnsupportedPython
from .eval_ranges import eval_ranges
from .layouts import (
    DEBUG_COOKIE,
    DEBUG_OFFSETS_SIZE,
    Layout,
    debug_offsets_layout,
    table_layout,
)
from .memory import MemoryReader

_LIBPYTHON = re.compile(r"^libpython3\.(\d+)(t?)(d?)\.so")
_PYTHON_EXE = re.compile(r"^python3(?:\.(\d+))?(t?)$")
WANTED = ("_PyRuntime", "Py_Version", "PyCode_Type", "_PyEval_EvalFrameDefault")
MAX_BINARY = 4 << 30  # a mapped file larger than this is not read


@dataclass(frozen=True)
class Interpreter:
    """A CPython interpreter found in process ``pid`` (addresses are the process's)."""

    pid: int
    layout: Layout
    runtime: int  # &_PyRuntime
    code_type: int  # &PyCode_Type (0 if the symbol is absent)
    binary: str  # the ELF holding the interpreter, as the process names it
    # [start, end) runtime ranges of _PyEval_EvalFrameDefault and its cold parts (may be empty).
    eval_ranges: tuple[tuple[int, int], ...] = ()

    @property
    def version_text(self) -> str:
        """The interpreter's version, e.g. ``3.11.2``."""
        return self.layout.version_text


def _candidates(maps: ProcessMaps, executable: str) -> list[list[Mapping]]:
    """The file mappings that may hold the interpreter, grouped by file: libpython first, then
    the executable (embedders link CPython statically), then other ``python3*`` files."""
    by_file: dict[tuple[str, int], list[Mapping]] = {}
    for m in maps.mappings:
        if m.is_file:
            by_file.setdefault((m.path, m.inode), []).append(m)
    exe = executable.removesuffix(" (deleted)")
    libs, exes, others = [], [], []
    for (path, _), group in by_file.items():
        base = os.path.basename(path)
        if _LIBPYTHON.match(base):
            libs.append(group)
        elif path == exe:
            exes.append(group)
        elif _PYTHON_EXE.match(base):
            others.append(group)
    return libs + exes + others


def _version_from_name(paths: Iterable[str]) -> int:
    """A PY_VERSION_HEX (major.minor only) guessed from a libpython or python3.X file name."""
    for path in paths:
        base = os.path.basename(path)
        match = _LIBPYTHON.match(base) or _PYTHON_EXE.match(base)
        if match and match.group(1):
            return 0x03000000 | int(match.group(1)) << 16
    return 0


# What we read of interpreter binaries, by file identity: many processes share one.
Symbols = dict[str, tuple[int, int]]
_CACHE: dict[tuple, tuple[Symbols, tuple[tuple[int, int], ...]]] = {}
_CACHE_MAX = 64
_CACHE_LOCK = threading.Lock()


def _read_binary(elf: ElfFile, dynamic_only: bool) -> tuple[Symbols, tuple[tuple[int, int], ...]]:
    """(symbols, ELF vaddr ranges of the bytecode loop) of an interpreter binary."""
    symbols = find_symbols(elf, WANTED, dynamic_only=dynamic_only)
    if "_PyRuntime" not in symbols:
        return symbols, ()
    start, size = symbols.get("_PyEval_EvalFrameDefault", (0, 0))
    if not start or not size:
        return symbols, ()
    table = SymbolTable.from_elf(elf)
    starts = sorted(s for _, s, _ in table.symbols()) if table is not None else []
    try:
        ranges = tuple(eval_ranges(elf, start, size, starts))
    except FormatError:
        ranges = ((start, start + size),)
    return symbols, ranges


def _binary(maps: ProcessMaps, group: list[Mapping]):
    """(symbols, eval ranges, load bias) of one candidate file; None if it cannot be read.

    A file not named like CPython (an executable that may embed it statically, as uWSGI does)
    is looked up in ``.dynsym`` only: ``_PyRuntime`` is exported wherever extension modules
    load, and a large program's ``.symtab`` costs tens of milliseconds to scan.
    """
    base = os.path.basename(group[0].path)
    dynamic_only = not (_LIBPYTHON.match(base) or _PYTHON_EXE.match(base))
    source = maps.source(group[0])
    try:
        fd = source.open(MAX_BINARY)
    except OSError:
        return None
    try:
        with ElfFile.from_fd(fd, source.label) as elf:
            key = (elf.identity(), dynamic_only)
            with _CACHE_LOCK:
                entry = _CACHE.get(key)
            if entry is None:
                entry = _read_binary(elf, dynamic_only)
                with _CACHE_LOCK:
                    if len(_CACHE) >= _CACHE_MAX:
                        _CACHE.clear()
                    _CACHE[key] = entry
            loads = elf.load_segments()
    except (OSError, FormatError):
        return None
    for m in group:
        vaddr = vaddr_of(loads, m.offset, "x" in m.perms)
        if vaddr is not None:
            return entry[0], entry[1], m.start - vaddr
    return None


def find_interpreter(
    pid: int, maps: ProcessMaps, memory: MemoryReader, executable: str = ""
) -> Interpreter:
    """The CPython interpreter of process ``pid`` whose mappings are ``maps`` (``executable``:
    its ``/proc/PID/exe``); raises :class:`InterpreterNotFound`."""
    groups = _candidates(maps, executable)
    if not groups:
        raise InterpreterNotFound(f"pid {pid}: no CPython mapped")
    for group in groups:
        found = _binary(maps, group)
        if found is None:
            continue
        symbols, ranges, bias = found
        if "_PyRuntime" not in symbols:
            continue
        runtime_ranges = tuple((lo + bias, hi + bias) for lo, hi in ranges)
        return interpreter_at(pid, memory, symbols, bias, group[0].path, runtime_ranges)
    version = _version_from_name(g[0].path for g in groups)
    raise InterpreterNotFound(
        f"pid {pid}: no CPython (no _PyRuntime symbol in its executable or libpython)", version
    )


def interpreter_at(
    pid: int,
    memory: MemoryReader,
    symbols: Symbols,
    bias: int,
    path: str,
    ranges: tuple[tuple[int, int], ...] = (),
) -> Interpreter:
    """The interpreter whose binary ``path`` has ``symbols`` (ELF addresses; ``bias`` makes
    them the process's): its version and layout read from its memory."""
    runtime = symbols["_PyRuntime"][0] + bias
    guess = _version_from_name([path])
    try:
        head = memory.read(runtime, 8)
        version = 0
        if "Py_Version" in symbols:
            version = struct.unpack("<I", memory.read(symbols["Py_Version"][0] + bias, 4))[0]
        if head == DEBUG_COOKIE:
            layout = debug_offsets_layout(memory.read(runtime, DEBUG_OFFSETS_SIZE))
            if version and version >> 16 != layout.version >> 16:
                raise UnsupportedPython(
                    f"Py_Version {version:#x} and _Py_DebugOffsets {layout.version:#x} disagree"
                )
        elif version:
            layout = table_layout(version)
        else:
            minor = f"3.{(guess >> 16) & 0xFF}" if guess else "CPython before 3.11"
            raise InterpreterNotFound(
                f"pid {pid}: {minor} (no Py_Version): frames are walked for 3.11 and later", guess
            )
    except MemoryReadError as exc:
        raise InterpreterNotFound(f"pid {pid}: cannot read the interpreter ({exc})") from exc
    except UnsupportedPython as exc:
        raise InterpreterNotFound(f"pid {pid}: {exc}", version or guess) from exc
    if layout.free_threaded:
        raise InterpreterNotFound(
            f"pid {pid}: CPython {layout.version_text} is a free-threaded build: detected, "
            "frames not walked (per-thread bytecode and object headers differ)",
            layout.version,
        )
    code_type = symbols["PyCode_Type"][0] + bias if "PyCode_Type" in symbols else 0
    return Interpreter(pid, layout, runtime, code_type, path, ranges)
