"""BPF maps: a :class:`MapSpec` (plain data) creates a live :class:`Map` (owns an fd).

Keys and values are ``bytes``, ``int`` (packed to the key/value size in the machine's byte
order), or, when the spec names a layout (:mod:`pybpf.structs`), instances of that layout; lookups
return the same kinds. Per-CPU maps take and return one value per possible CPU (a list).
"""

from __future__ import annotations

import dataclasses
import enum
import errno as errno_codes
import functools
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from . import bpf_commands as cmds
from .bpf_attr import OBJ_NAME_LEN, ffi
from .errors import ENOTSUPP, BPFError
from .owned_fd import OwnedFd
from .structs import Layout, Struct
from .syscall import raise_memlock_limit


class MapType(enum.IntEnum):
    """``enum bpf_map_type`` (linux/bpf.h)."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31


PER_CPU_TYPES = frozenset(
    {
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_PERCPU_HASH,
        MapType.PERCPU_CGROUP_STORAGE,
    }
)

# Array-like maps: every slot always exists, so elements cannot be deleted.
_NO_DELETE_TYPES = frozenset(
    {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY}
)

# Map creation flags (linux/bpf.h).
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_MMAPABLE = 1 << 10

# The kernel accepts these characters in object names (kernel/bpf/syscall.c bpf_obj_name_cpy).
_VALID_NAME = re.compile(r"^[A-Za-z0-9_.]*$")


def validate_name(name: str) -> str:
    """Check an object name and truncate it to the kernel's 15 characters."""
    if not _VALID_NAME.match(name):
        raise ValueError(f"BPF object name {name!r} may only hold letters, digits, '_' and '.'")
    return name[: OBJ_NAME_LEN - 1]


@functools.cache
def possible_cpus() -> int:
    """The number of possible CPUs (``/sys/devices/system/cpu/possible``): per-CPU values
    come back as one value per possible CPU."""
    with open("/sys/devices/system/cpu/possible") as f:
        return count_cpu_list(f.read())


def count_cpu_list(text: str) -> int:
    """Count the CPUs in a kernel CPU list such as ``"0-3,5,7-8"``."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


@dataclasses.dataclass(frozen=True)
class MapSpec:
    """What a map is, as plain data; :meth:`create` makes it in the kernel.

    ``key_size``/``value_size`` may be left 0 when ``key_struct``/``value_struct`` give them
    (any :mod:`pybpf.structs` layout, e.g. a struct type or ``u64``).
    """

    name: str
    type: MapType | int
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 1
    flags: int = 0
    key_struct: Layout | type[Struct] | None = None
    value_struct: Layout | type[Struct] | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "type", MapType(self.type))
        except ValueError:  # a type id newer than this table: pass it through as a number
            object.__setattr__(self, "type", int(self.type))
        object.__setattr__(self, "name", validate_name(self.name))
        for which in ("key", "value"):
            layout = getattr(self, f"{which}_struct")
            size = getattr(self, f"{which}_size")
            if layout is None:
                continue
            if size == 0:
                object.__setattr__(self, f"{which}_size", layout.size)
            elif size != layout.size:
                raise ValueError(
                    f"map {self.name!r}: {which}_size {size} != size of {which}_struct "
                    f"({layout.size})"
                )
        problem = _shape_problem(self)
        if problem:
            raise ValueError(f"map {self.name!r} ({self.type.name}): {problem}")

    def create(self) -> Map:
        """Create the map in the kernel; returns the live :class:`Map` (close it)."""
        raise_memlock_limit()
        fd = cmds.map_create(
            int(self.type),
            self.key_size,
            self.value_size,
            self.max_entries,
            self.flags,
            self.name,
        )
        return Map(fd, self)


def _shape_problem(spec: MapSpec) -> str:
    """What the kernel would reject (with a bare EINVAL) about a spec's sizes, if anything."""
    t = spec.type
    if t == MapType.RINGBUF:
        page = os.sysconf("SC_PAGE_SIZE")
        n = spec.max_entries
        if spec.key_size or spec.value_size:
            return "ring buffers take key_size=0 and value_size=0"
        if n < page or n & (n - 1):
            return f"max_entries (the ring's size in bytes) must be a power of 2 >= {page}"
    elif t == MapType.STACK_TRACE:
        if spec.key_size != 4 or spec.value_size == 0 or spec.value_size % 8:
            return "stack trace maps take key_size=4 and value_size=8 * max frames"
    elif t in (MapType.PERF_EVENT_ARRAY, MapType.PROG_ARRAY):
        if spec.key_size != 4 or spec.value_size != 4:
            return "key_size and value_size must both be 4 (an index and an fd)"
    elif t in _NO_DELETE_TYPES and spec.key_size != 4:
        return "array keys are 4-byte indexes"
    return ""


@dataclasses.dataclass(frozen=True)
class MapInfo:
    """What ``BPF_OBJ_GET_INFO_BY_FD`` says about a map."""

    id: int
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


class Map(OwnedFd):
    """A live BPF map. Owns its fd: close it (``close()`` or ``with``) exactly once."""

    KIND = "map"

    #: How many elements one batch command asks for (grown when a hash bucket is larger).
    BATCH_SIZE = 1024

    def __init__(self, fd: int, spec: MapSpec) -> None:
        self._fd = fd
        self.spec = spec
        self.name = spec.name
        self.per_cpu = spec.type in PER_CPU_TYPES
        self._ncpus = possible_cpus() if self.per_cpu else 1
        # Per-CPU values are copied 8-byte aligned, one slot per possible CPU.
        self._value_stride = (spec.value_size + 7) & ~7 if self.per_cpu else spec.value_size
        self._value_buf_size = self._value_stride * self._ncpus
        self._value_buf = ffi.new("char[]", max(self._value_buf_size, 1))
        self._has_batch = True  # until the kernel says otherwise for this map

    # ---- life cycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        kind = getattr(self.spec.type, "name", f"type-{self.spec.type}")
        return f"<Map {self.name!r} {kind} {state}>"

    # ---- conversions ------------------------------------------------------------------------

    def encode_key(self, key: Any) -> bytes:
        """``key`` as the bytes the kernel stores."""
        return _encode(key, self.spec.key_size, self.spec.key_struct, "key")

    def decode_key(self, raw: bytes) -> Any:
        """Bytes from the kernel as a key (a layout instance when the spec has one)."""
        return raw if self.spec.key_struct is None else self.spec.key_struct.unpack(raw)

    def encode_value(self, value: Any) -> bytes:
        """``value`` (a list per CPU for per-CPU maps) as the bytes the kernel expects."""
        size, layout = self.spec.value_size, self.spec.value_struct
        if not self.per_cpu:
            return _encode(value, size, layout, "value")
        if not isinstance(value, list | tuple):
            value = [value] * self._ncpus  # one value for every CPU
        if len(value) != self._ncpus:
            raise ValueError(f"per-CPU value needs {self._ncpus} entries, got {len(value)}")
        pad = bytes(self._value_stride - size)
        return b"".join(_encode(v, size, layout, "value") + pad for v in value)

    def decode_value(self, raw: bytes | memoryview) -> Any:
        """Bytes from the kernel as a value (a list per CPU for per-CPU maps)."""
        layout = self.spec.value_struct
        if not self.per_cpu:
            return bytes(raw) if layout is None else layout.unpack(raw)
        stride, size = self._value_stride, self.spec.value_size
        chunks = [bytes(raw[i * stride : i * stride + size]) for i in range(self._ncpus)]
        return chunks if layout is None else [layout.unpack(c) for c in chunks]

    # ---- element operations -----------------------------------------------------------------

    def lookup(self, key: Any) -> Any:
        """The value stored under ``key``, or ``None``."""
        if not cmds.map_lookup_elem(self.fd, self.encode_key(key), self._value_buf):
            return None
        return self.decode_value(ffi.buffer(self._value_buf, self._value_buf_size))

    def update(self, key: Any, value: Any, flags: int = cmds.BPF_ANY) -> None:
        """Store ``value`` under ``key`` (``flags``: BPF_ANY, BPF_NOEXIST, BPF_EXIST)."""
        cmds.map_update_elem(self.fd, self.encode_key(key), self.encode_value(value), flags)

    def delete(self, key: Any) -> None:
        """Remove ``key``; ``KeyError`` if it is absent."""
        if not cmds.map_delete_elem(self.fd, self.encode_key(key)):
            raise KeyError(key)

    def __getitem__(self, key: Any) -> Any:
        value = self.lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def __contains__(self, key: Any) -> bool:
        return cmds.map_lookup_elem(self.fd, self.encode_key(key), self._value_buf)

    # ---- iteration --------------------------------------------------------------------------

    def raw_keys(self) -> Iterator[bytes]:
        """Every key as raw bytes, robust against keys deleted while iterating.

        The next key is fetched before the current one is handed out, so deleting the current
        key (the draining pattern) does not lose the iterator's place. If some other deleted key
        makes the kernel restart from the first key, keys already seen are skipped; the walk is
        bounded so a map that keeps changing cannot make it loop forever. Guarantee: no key is
        yielded twice, and every key present throughout is yielded; a key deleted after it was
        fetched ahead may still be yielded once (:meth:`items` skips those).
        """
        size = self.spec.key_size
        out = ffi.new("char[]", max(size, 1))
        if not cmds.map_get_next_key(self.fd, None, out):
            return
        current = ffi.buffer(out, size)[:]
        seen: set[bytes] = set()
        budget = 4 * self.spec.max_entries + 16
        while budget > 0:
            budget -= 1
            has_next = cmds.map_get_next_key(self.fd, current, out)
            following = ffi.buffer(out, size)[:] if has_next else None
            if current not in seen:
                seen.add(current)
                yield current
            if following is None:
                return
            current = following

    def keys(self) -> Iterator[Any]:
        """Every key (decoded), robust against deletion while iterating (see :meth:`raw_keys`)."""
        for raw in self.raw_keys():
            yield self.decode_key(raw)

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every ``(key, value)``; keys that vanish between the walk and the lookup are skipped."""
        for raw in self.raw_keys():
            if cmds.map_lookup_elem(self.fd, raw, self._value_buf):
                value = self.decode_value(ffi.buffer(self._value_buf, self._value_buf_size))
                yield self.decode_key(raw), value

    def values(self) -> Iterator[Any]:
        """Every value."""
        for _key, value in self.items():
            yield value

    # ---- batches ----------------------------------------------------------------------------

    def lookup_batch(self) -> list[tuple[Any, Any]]:
        """Every ``(key, value)`` with ``BPF_MAP_LOOKUP_BATCH`` (5.6+); falls back to
        :meth:`items` when the kernel or the map type has no batch support."""
        return self._batch(delete=False)

    def lookup_and_delete_batch(self) -> list[tuple[Any, Any]]:
        """Drain the map: every ``(key, value)``, removed from the map.

        Uses ``BPF_MAP_LOOKUP_AND_DELETE_BATCH`` (5.6+) and falls back to iterate + lookup +
        delete. Elements added while draining may or may not be included, never half-read.
        Array maps cannot delete elements: read them with :meth:`lookup_batch` instead.
        """
        if self.spec.type in _NO_DELETE_TYPES:
            raise BPFError(
                errno_codes.EINVAL,
                f"map {self.name!r}: {self.spec.type.name} maps cannot delete elements; "
                "read them with lookup_batch() and overwrite them instead",
                command="lookup_and_delete_batch",
            )
        return self._batch(delete=True)

    def _batch(self, delete: bool) -> list[tuple[Any, Any]]:
        raw: list[tuple[bytes, bytes]] = []
        if self._has_batch:
            try:
                self._raw_batch(delete, raw)
            except BPFError as exc:
                if exc.errno not in (errno_codes.EINVAL, errno_codes.EOPNOTSUPP, ENOTSUPP):
                    raise
                # No batch support for this kernel or map type: remember, and walk instead.
                # Elements a batch already removed stay in ``raw``; a plain lookup starts over.
                self._has_batch = False
                if not delete:
                    raw.clear()
        if not self._has_batch:
            raw.extend(self._raw_fallback(delete))
        return [(self.decode_key(k), self.decode_value(v)) for k, v in raw]

    def _raw_batch(self, delete: bool, result: list[tuple[bytes, bytes]]) -> None:
        key_size, value_size = self.spec.key_size, self._value_buf_size
        count = min(self.BATCH_SIZE, max(self.spec.max_entries, 1))
        # The batch token is a u32 bucket index for hash maps and a key for arrays.
        token_size = max(key_size, 8)
        tokens = [ffi.new("char[]", token_size), ffi.new("char[]", token_size)]
        in_batch = None
        while True:
            keys = ffi.new("char[]", key_size * count)
            values = ffi.new("char[]", value_size * count)
            try:
                got = cmds.map_lookup_batch(
                    self.fd, in_batch, tokens[1], keys, values, count, delete=delete
                )
            except BPFError as exc:
                # A hash bucket holds more elements than asked for: ask for more, same place.
                if exc.errno == errno_codes.ENOSPC and count < 1 << 20:
                    count *= 2
                    continue
                raise
            kbuf = ffi.buffer(keys, key_size * got.count)
            vbuf = ffi.buffer(values, value_size * got.count)
            for i in range(got.count):
                result.append(
                    (
                        kbuf[i * key_size : (i + 1) * key_size],
                        vbuf[i * value_size : (i + 1) * value_size],
                    )
                )
            if got.done:
                return
            tokens.reverse()
            in_batch = tokens[0]

    def _raw_fallback(self, delete: bool) -> list[tuple[bytes, bytes]]:
        result = []
        for key in self.raw_keys():
            if cmds.map_lookup_elem(self.fd, key, self._value_buf):
                result.append((key, ffi.buffer(self._value_buf, self._value_buf_size)[:]))
                if delete:
                    cmds.map_delete_elem(self.fd, key)
        return result

    # ---- introspection ----------------------------------------------------------------------

    def info(self) -> MapInfo:
        """``BPF_OBJ_GET_INFO_BY_FD``: the kernel's id, name, type and sizes of this map."""
        info = cmds.obj_get_info_by_fd(self.fd, "struct bpf_map_info")
        return MapInfo(
            id=info.id,
            name=ffi.string(info.name).decode(errors="replace"),
            type=info.type,
            key_size=info.key_size,
            value_size=info.value_size,
            max_entries=info.max_entries,
            flags=info.map_flags,
        )

    def stack_trace(self, stack_id: int) -> list[int] | None:
        """For a ``STACK_TRACE`` map: the addresses of stack ``stack_id`` (innermost first,
        the zero padding dropped), or ``None`` if the id is unknown."""
        raw = self.lookup(stack_id)
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else self.spec.value_struct.pack(raw)
        addrs = memoryview(data).cast("Q").tolist()
        while addrs and addrs[-1] == 0:
            addrs.pop()
        return addrs


def _encode(value: Any, size: int, layout: Any, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif layout is not None:
        data = layout.pack(value)
    elif isinstance(value, int):
        data = value.to_bytes(size, sys.byteorder, signed=value < 0)
    else:
        raise TypeError(f"cannot use {type(value).__name__} as a map {what} (bytes or int)")
    if len(data) != size:
        raise ValueError(f"map {what} must be {size} bytes, got {len(data)}")
    return data
