"""Code objects of a target process -> names, files and lines, read from its memory and cached.

A Python frame arrives from the kernel as ``(code address, instruction offset, first line)``.
:class:`CodeObjects` reads the code object once (three batched ``process_vm_readv`` calls: the
object, the headers of its strings and line table, then their contents), checks it is a code
object (its type is ``PyCode_Type``) and keeps a :class:`CodeInfo` per address.

A code object can be freed and its memory reused by another one. The kernel sends the first line
it read from the object at sample time with the address, and the cache key is the pair: a reused
address with another first line is read afresh; and when the object read now does not match what
the kernel saw, the frame is named ``<unknown code>`` rather than after the wrong function.

The cache is per process and bounded (:data:`MAX_CODE_OBJECTS`); entries of a process that exits
stay until the session forgets the process, so its late samples keep their names.
Errors: reads that fail give ``None`` (the caller names the frame unknown); nothing raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import MemoryReadError
from .layouts import NONE, Layout
from .line_table import LineTable
from .memory import MemoryReader

MAX_CODE_OBJECTS = 8192  # per process (names and a line table each)
MAX_NAME_CHARS = 1024  # longer names and paths are cut (a target chooses them)
MAX_LINE_TABLE = 256 << 10  # bytes of co_linetable read at most
# Unicode kinds (PyUnicode_1BYTE_KIND...): character width in bytes.
_KIND_WIDTH = {1: 1, 2: 2, 4: 4}


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What a profile needs of one code object."""

    qualname: str
    name: str
    filename: str
    first_line: int
    first_traceable: int  # byte offset of the first traceable instruction (0 if unknown)
    lines: LineTable | None

    def line_at(self, offset: int) -> int:
        """The line of the instruction at byte ``offset`` (the first line when unknown)."""
        if self.lines is None:
            return self.first_line
        return self.lines.line_at(offset) or self.first_line


UNKNOWN_CODE = CodeInfo("<unknown code>", "<unknown code>", "", 0, 0, None)


def _u64(raw: bytes, at: int) -> int:
    return struct.unpack_from("<Q", raw, at)[0]


class CodeObjects:
    """Reads and caches the code objects of one process (see the module docstring)."""

    def __init__(self, memory: MemoryReader, layout: Layout, code_type: int = 0) -> None:
        self.memory = memory
        self.layout = layout
        self.code_type = code_type
        self._cache: dict[tuple[int, int], CodeInfo] = {}
        self.reads = 0  # code objects read from the target
        self.failures = 0  # ... that could not be read or were not code objects

    def get(self, address: int, first_line: int) -> CodeInfo:
        """The code object at ``address`` that had ``first_line`` when sampled."""
        key = (address, first_line)
        info = self._cache.get(key)
        if info is None:
            info = self._read(address, first_line)
            if info is None:
                self.failures += 1
                info = UNKNOWN_CODE
            if len(self._cache) >= MAX_CODE_OBJECTS:
                self._cache.clear()
            self._cache[key] = info
        return info

    def __len__(self) -> int:
        return len(self._cache)

    def _read(self, address: int, first_line: int) -> CodeInfo | None:
        lay = self.layout
        self.reads += 1
        fields = [
            lay.code_filename,
            lay.code_name,
            lay.code_qualname,
            lay.code_linetable,
            lay.code_firstlineno,
            lay.ob_type,
        ]
        if lay.code_firsttraceable != NONE:
            fields.append(lay.code_firsttraceable)
        span = max(fields) + 8
        try:
            head = self.memory.read(address, span)
        except MemoryReadError:
            return None
        if self.code_type and _u64(head, lay.ob_type) != self.code_type:
            return None  # freed and reused by another kind of object
        line = struct.unpack_from("<i", head, lay.code_firstlineno)[0]
        # The kernel masks the first line to 31 bits (the top bit of its word is a flag).
        if first_line and (line & 0x7FFFFFFF) != first_line:
            return None  # another code object lives here now
        first_traceable = 0
        if lay.code_firsttraceable != NONE:
            first_traceable = 2 * struct.unpack_from("<i", head, lay.code_firsttraceable)[0]
        pointers = [_u64(head, off) for off in fields[:4]]
        try:
            strings = self._strings(pointers[:3])
        except MemoryReadError:  # the process is gone (or unreadable) since the first read
            return None
        if strings is None:
            return None
        filename, name, qualname = strings
        lines = self._line_table(pointers[3], line)
        return CodeInfo(qualname or name, name, filename, line, first_traceable, lines)

    def _strings(self, addresses: list[int]) -> list[str] | None:
        """Decode compact ``str`` objects (names and paths are always compact)."""
        lay = self.layout
        span = max(lay.unicode_state, lay.unicode_length) + 8
        heads = self.memory.read_many([(a, span) for a in addresses])
        if heads[0] is None and heads[1] is None:
            return None
        requests = []
        shapes = []
        for head in heads:
            if head is None:
                shapes.append(None)
                continue
            length = _u64(head, lay.unicode_length)
            state = struct.unpack_from("<I", head, lay.unicode_state)[0]
            kind = (state >> 2) & 7
            compact = (state >> 5) & 1
            ascii_ = (state >> 6) & 1
            width = _KIND_WIDTH.get(kind)
            if not compact or width is None:
                shapes.append(None)
                continue
            chars = min(length, MAX_NAME_CHARS)
            data = lay.unicode_ascii_data if ascii_ else lay.unicode_compact_data
            shapes.append((width, len(requests)))
            requests.append((addresses[len(shapes) - 1] + data, chars * width))
        bodies = self.memory.read_many(requests) if requests else []
        out = []
        for shape in shapes:
            if shape is None or bodies[shape[1]] is None:
                out.append("")
                continue
            width, index = shape
            raw = bodies[index]
            codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[width]
            out.append(raw.decode(codec, "replace"))
        return out

    def _line_table(self, address: int, first_line: int) -> LineTable | None:
        lay = self.layout
        try:
            head = self.memory.read(address, lay.bytes_size + 8)
            size = _u64(head, lay.bytes_size)
            if not 0 < size <= MAX_LINE_TABLE:
                return None
            raw = self.memory.read(address + lay.bytes_data, size)
        except MemoryReadError:
            return None
        return LineTable(raw, first_line)
