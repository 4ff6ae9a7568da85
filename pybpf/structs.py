"""Typed layouts for map keys and values: C structs declared in Python, packed with ``struct``.

A layout knows its size, its C alignment, and how to pack a Python value to bytes and back::

    from pybpf.structs import struct_type, u32, s32, u64, char, array

    Key = struct_type("Key", pid=u32, tid=u32, comm=char(16), ustack=s32, kstack=s32)
    key = Key(pid=1, tid=2, comm=b"bash", ustack=-1, kstack=3)
    raw = Key.pack(key)            # 32 bytes, laid out as the C compiler would
    assert Key.unpack(raw) == key

Scalars (``u8``…``s64``) pack Python ints, ``char(N)`` packs bytes or str (unpacked as bytes up to
the first NUL), ``array(elem, N)`` packs a sequence of N elements (unpacked as a tuple), and a
struct type packs an instance of itself; struct types nest. Fields are placed with C's rules:
each at a multiple of its alignment, the whole padded to the largest alignment. Byte order is
the machine's, as the kernel's. Every layout compiles to one :class:`struct.Struct`.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from typing import Any, ClassVar


class Layout:
    """A C type: ``size``, ``align``, and ``pack``/``unpack`` between Python values and bytes."""

    size: int
    align: int
    # The ``struct`` format of this type without byte-order prefix, and how many items it packs.
    fmt: str
    n_items: int

    def to_items(self, value: Any) -> tuple:
        """Flatten ``value`` into the items ``struct`` packs for ``fmt``."""
        raise NotImplementedError

    def from_items(self, items: Sequence) -> Any:
        """Rebuild a value from the items ``struct`` unpacked for ``fmt``."""
        raise NotImplementedError

    def pack(self, value: Any) -> bytes:
        """``value`` as ``size`` bytes."""
        return struct.pack("=" + self.fmt, *self.to_items(value))

    def unpack(self, data: bytes | memoryview) -> Any:
        """The value held in the first ``size`` bytes of ``data``."""
        return self.from_items(struct.unpack_from("=" + self.fmt, data))


class Scalar(Layout):
    """An integer type (``u8``…``u64``, ``s8``…``s64``)."""

    def __init__(self, name: str, code: str) -> None:
        self.name = name
        self.fmt = code
        self.size = self.align = struct.calcsize("=" + code)
        self.n_items = 1
        self._struct = struct.Struct("=" + code)

    def to_items(self, value: int) -> tuple:
        return (int(value),)

    def from_items(self, items: Sequence) -> int:
        return items[0]

    def pack(self, value: int) -> bytes:
        return self._struct.pack(value)

    def unpack(self, data: bytes | memoryview) -> int:
        return self._struct.unpack_from(data)[0]

    def __repr__(self) -> str:
        return self.name


u8 = Scalar("u8", "B")
u16 = Scalar("u16", "H")
u32 = Scalar("u32", "I")
u64 = Scalar("u64", "Q")
s8 = Scalar("s8", "b")
s16 = Scalar("s16", "h")
s32 = Scalar("s32", "i")
s64 = Scalar("s64", "q")


class Char(Layout):
    """``char[N]``: bytes (or str, encoded as UTF-8) padded with NULs; unpacks up to the NUL."""

    def __init__(self, length: int) -> None:
        if length <= 0:
            raise ValueError("char[N] needs N > 0")
        self.size = length
        self.align = 1
        self.fmt = f"{length}s"
        self.n_items = 1

    def to_items(self, value: bytes | str) -> tuple:
        data = value.encode() if isinstance(value, str) else bytes(value)
        if len(data) > self.size:
            raise ValueError(f"{data!r} does not fit in char[{self.size}]")
        return (data,)

    def from_items(self, items: Sequence) -> bytes:
        return items[0].split(b"\0", 1)[0]

    def __repr__(self) -> str:
        return f"char({self.size})"


def char(length: int) -> Char:
    """The layout of C ``char[length]``."""
    return Char(length)


class Array(Layout):
    """``elem[N]``: packs a sequence of exactly N elements; unpacks to a tuple."""

    def __init__(self, elem: Layout, length: int) -> None:
        if length <= 0:
            raise ValueError("an array needs a length > 0")
        self.elem = elem
        self.length = length
        self.size = elem.size * length
        self.align = elem.align
        self.fmt = elem.fmt * length
        self.n_items = elem.n_items * length

    def to_items(self, value: Sequence) -> tuple:
        if len(value) != self.length:
            raise ValueError(f"expected {self.length} elements, got {len(value)}")
        if self.elem.n_items == 1 and isinstance(self.elem, Scalar):
            return tuple(int(v) for v in value)
        items: list = []
        for v in value:
            items.extend(self.elem.to_items(v))
        return tuple(items)

    def from_items(self, items: Sequence) -> tuple:
        if isinstance(self.elem, Scalar):
            return tuple(items)
        n = self.elem.n_items
        return tuple(self.elem.from_items(items[i * n : (i + 1) * n]) for i in range(self.length))

    def __repr__(self) -> str:
        return f"array({self.elem!r}, {self.length})"


def array(elem: Layout, length: int) -> Array:
    """The layout of C ``elem[length]``."""
    return Array(elem, length)


class StructLayout(Layout):
    """The layout of a C struct: named fields at C-aligned offsets."""

    def __init__(self, fields: Sequence[tuple[str, Layout]], packed: bool = False) -> None:
        if not fields:
            raise ValueError("a struct needs at least one field")
        self.fields = list(fields)
        self.offsets: dict[str, int] = {}
        fmt = []
        offset = 0
        align = 1
        for name, layout in self.fields:
            field_align = 1 if packed else layout.align
            pad = -offset % field_align
            if pad:
                fmt.append(f"{pad}x")
            offset += pad
            self.offsets[name] = offset
            fmt.append(layout.fmt)
            offset += layout.size
            align = max(align, field_align)
        tail = -offset % align
        if tail:
            fmt.append(f"{tail}x")
        self.size = offset + tail
        self.align = align
        self.fmt = "".join(fmt)
        self.n_items = sum(layout.n_items for _, layout in self.fields)
        self._struct = struct.Struct("=" + self.fmt)
        if self._struct.size != self.size:  # pragma: no cover - a bug in the layout arithmetic
            raise AssertionError(f"layout size {self.size} != struct size {self._struct.size}")


class Struct:
    """Base of the classes :func:`struct_type` makes: frozen dataclasses with a C layout.

    Class attributes: ``layout`` (a :class:`StructLayout`), ``size``, ``align``; class methods
    ``pack(instance)`` and ``unpack(bytes)``; the class itself can be used wherever a
    :class:`Layout` is expected (map keys and values, nested fields).
    """

    layout: ClassVar[StructLayout]
    size: ClassVar[int]
    align: ClassVar[int]
    fmt: ClassVar[str]
    n_items: ClassVar[int]

    @classmethod
    def to_items(cls, value: Struct) -> tuple:
        """Flatten an instance into ``struct`` items."""
        if not isinstance(value, cls):
            raise TypeError(f"expected a {cls.__name__}, got {type(value).__name__}")
        items: list = []
        for name, layout in cls.layout.fields:
            v = getattr(value, name)
            if isinstance(layout, Scalar):
                items.append(int(v))
            else:
                items.extend(layout.to_items(v))
        return tuple(items)

    @classmethod
    def from_items(cls, items: Sequence) -> Struct:
        """Rebuild an instance from ``struct`` items."""
        values = {}
        i = 0
        for name, layout in cls.layout.fields:
            n = layout.n_items
            if isinstance(layout, Scalar):
                values[name] = items[i]
            else:
                values[name] = layout.from_items(items[i : i + n])
            i += n
        return cls(**values)

    @classmethod
    def pack(cls, value: Struct) -> bytes:
        """The instance as ``size`` bytes."""
        return cls.layout._struct.pack(*cls.to_items(value))

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> Struct:
        """The instance held in the first ``size`` bytes of ``data``."""
        return cls.from_items(cls.layout._struct.unpack_from(data))

    @classmethod
    def offset_of(cls, field: str) -> int:
        """The byte offset of ``field`` (for BPF programs that fill the struct on the stack)."""
        return cls.layout.offsets[field]


def _default(layout: Layout) -> Any:
    if isinstance(layout, Scalar):
        return 0
    if isinstance(layout, Char):
        return b""
    if isinstance(layout, Array):
        return tuple(_default(layout.elem) for _ in range(layout.length))
    if isinstance(layout, type) and issubclass(layout, Struct):
        return layout.from_items(layout.layout._struct.unpack(bytes(layout.size)))
    raise TypeError(f"no default for {layout!r}")


# Names a field cannot take: they are the class's own attributes.
RESERVED_FIELD_NAMES = frozenset(
    {"layout", "size", "align", "fmt", "n_items", "pack", "unpack", "to_items", "from_items"}
    | {"offset_of"}
)


def struct_type(name: str, /, *, _packed: bool = False, **fields: Layout) -> type[Struct]:
    """Declare a C struct: ``struct_type("Key", pid=u32, comm=char(16))`` (fields in order).

    Returns a frozen dataclass class (a :class:`Struct`); every field defaults to zero.
    ``_packed=True`` drops the padding (``__attribute__((packed))``).
    """
    if not fields:
        raise ValueError("a struct needs at least one field")
    clashes = RESERVED_FIELD_NAMES & set(fields)
    if clashes:
        raise ValueError(f"struct {name}: field names {sorted(clashes)} are reserved")
    layout = StructLayout(list(fields.items()), packed=_packed)
    dc_fields = [
        (fname, Any, dataclasses.field(default=_default(flayout)))
        for fname, flayout in fields.items()
    ]
    cls = dataclasses.make_dataclass(name, dc_fields, bases=(Struct,), frozen=True)
    cls.layout = layout
    cls.size = layout.size
    cls.align = layout.align
    cls.fmt = layout.fmt
    cls.n_items = layout.n_items
    return cls


def layout_size(layout: Layout | type[Struct]) -> int:
    """The size in bytes of any layout (scalar, char, array or struct type)."""
    return layout.size
