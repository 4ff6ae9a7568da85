"""Flat, thin wrappers over the ``bpf(2)`` commands pybpf issues (libbpf's ``bpf_*`` layer).

Each wrapper fills a zeroed attr sized to the command's last field (:mod:`pybpf.bpf_attr`),
calls the syscall seam (:func:`pybpf.syscall.kernel`) and returns plain values. Failures raise
:class:`pybpf.errors.BPFError` (or a subclass) with the kernel's errno. "Not found" answers that
callers branch on (ENOENT from lookups, deletes and iteration) are returned as ``False`` instead.
Policy (retries, log growth, fallbacks, typed values) lives above, in ``maps`` and ``programs``.

Buffers: keys and values are ``bytes`` (read by the kernel) or cffi ``char[]`` buffers (written by
the kernel); callers on hot paths pass preallocated buffers to avoid copies.
"""

from __future__ import annotations

import errno as errno_codes
from dataclasses import dataclass

from . import syscall
from .bpf_attr import OBJ_NAME_LEN, Cmd, address_of, attr_size, ffi, new_attr
from .errors import BPFError, from_oserror

#: BPF_MAP_UPDATE_ELEM flags.
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2


def bpf(cmd: Cmd, attr: object, what: str = "") -> int:
    """Issue ``cmd`` with ``attr`` (from :func:`~pybpf.bpf_attr.new_attr`); return the result."""
    try:
        return syscall.kernel().bpf(int(cmd), attr, attr_size(cmd))
    except BPFError:
        raise
    except OSError as exc:
        raise from_oserror(exc, f"BPF_{cmd.name}", what) from None


def _buffer(data: bytes | object) -> object:
    """A cffi view of ``data`` (bytes are not copied; the kernel only reads them)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return ffi.from_buffer(data)
    return data


def encode_name(name: str) -> bytes:
    """An object name as the kernel stores it: at most 15 bytes (the 16th is the NUL)."""
    return name.encode()[: OBJ_NAME_LEN - 1]


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    flags: int = 0,
    name: str = "",
    *,
    inner_map_fd: int = 0,
    numa_node: int = 0,
    map_extra: int = 0,
) -> int:
    """``BPF_MAP_CREATE``; returns the new map's fd."""
    attr = new_attr(Cmd.MAP_CREATE)
    attr.map_type = map_type
    attr.key_size = key_size
    attr.value_size = value_size
    attr.max_entries = max_entries
    attr.map_flags = flags
    attr.inner_map_fd = inner_map_fd
    attr.numa_node = numa_node
    attr.map_name = encode_name(name)
    attr.map_extra = map_extra
    return bpf(Cmd.MAP_CREATE, attr, f"create map {name!r}")


def _elem_call(cmd: Cmd, map_fd: int, key: object, value: object, flags: int) -> bool:
    attr = new_attr(cmd)
    attr.map_fd = map_fd
    attr.key = address_of(key)
    attr.value = address_of(value)
    attr.flags = flags
    try:
        bpf(cmd, attr)
    except BPFError as exc:
        if exc.errno == errno_codes.ENOENT:
            return False
        raise
    return True


def map_lookup_elem(map_fd: int, key: bytes | object, value_out: object, flags: int = 0) -> bool:
    """``BPF_MAP_LOOKUP_ELEM`` into ``value_out``; ``False`` if the key is absent."""
    return _elem_call(Cmd.MAP_LOOKUP_ELEM, map_fd, _buffer(key), value_out, flags)


def map_update_elem(
    map_fd: int, key: bytes | object, value: bytes | object, flags: int = BPF_ANY
) -> None:
    """``BPF_MAP_UPDATE_ELEM`` (``flags``: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK)."""
    if not _elem_call(Cmd.MAP_UPDATE_ELEM, map_fd, _buffer(key), _buffer(value), flags):
        raise BPFError(errno_codes.ENOENT, "update: no such key (BPF_EXIST)", command="update")


def map_delete_elem(map_fd: int, key: bytes | object) -> bool:
    """``BPF_MAP_DELETE_ELEM``; ``False`` if the key was absent."""
    return _elem_call(Cmd.MAP_DELETE_ELEM, map_fd, _buffer(key), ffi.NULL, 0)


def map_lookup_and_delete_elem(map_fd: int, key: bytes | object, value_out: object) -> bool:
    """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (queue/stack maps; hash maps since 5.14)."""
    return _elem_call(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, map_fd, _buffer(key), value_out, 0)


def map_get_next_key(map_fd: int, key: bytes | object | None, next_key_out: object) -> bool:
    """``BPF_MAP_GET_NEXT_KEY``: the key after ``key`` (the first if ``None``) into
    ``next_key_out``; ``False`` when there is none."""
    key_buf = ffi.NULL if key is None else _buffer(key)
    return _elem_call(Cmd.MAP_GET_NEXT_KEY, map_fd, key_buf, next_key_out, 0)


@dataclass(frozen=True)
class BatchResult:
    """What one batch command returned: ``count`` elements filled, ``done`` at the map's end."""

    count: int
    done: bool


def map_lookup_batch(
    map_fd: int,
    in_batch: object | None,
    out_batch: object,
    keys_out: object,
    values_out: object,
    count: int,
    *,
    delete: bool = False,
    elem_flags: int = 0,
) -> BatchResult:
    """``BPF_MAP_LOOKUP_BATCH`` (or ``_AND_DELETE_BATCH``) of up to ``count`` elements.

    ``in_batch`` is ``None`` for the first call, then the previous call's ``out_batch``. ENOENT
    (the end of the map) is returned as ``done=True`` with the elements filled before it.
    """
    cmd = Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH
    attr = new_attr(cmd)
    attr.in_batch = address_of(in_batch)
    attr.out_batch = address_of(out_batch)
    attr.keys = address_of(keys_out)
    attr.values = address_of(values_out)
    attr.count = count
    attr.map_fd = map_fd
    attr.elem_flags = elem_flags
    try:
        bpf(cmd, attr)
    except BPFError as exc:
        if exc.errno == errno_codes.ENOENT:
            return BatchResult(attr.count, True)
        raise
    return BatchResult(attr.count, False)


def prog_load(
    prog_type: int,
    insns: bytes,
    license: str = "GPL",
    *,
    name: str = "",
    log_buf: object | None = None,
    log_size: int = 0,
    log_level: int = 0,
    expected_attach_type: int = 0,
    prog_flags: int = 0,
    kern_version: int = 0,
) -> int:
    """``BPF_PROG_LOAD`` of raw instructions (8 bytes a slot); returns the program's fd."""
    if len(insns) % 8:
        raise ValueError(f"instructions must be 8 bytes each, got {len(insns)} bytes")
    insns_buf = ffi.from_buffer(insns)
    license_buf = ffi.new("char[]", license.encode())
    attr = new_attr(Cmd.PROG_LOAD)
    attr.prog_type = prog_type
    attr.insn_cnt = len(insns) // 8
    attr.insns = address_of(insns_buf)
    attr.license = address_of(license_buf)
    attr.log_level = log_level
    attr.log_size = log_size
    attr.log_buf = address_of(log_buf)
    attr.kern_version = kern_version
    attr.prog_flags = prog_flags
    attr.prog_name = encode_name(name)
    attr.expected_attach_type = expected_attach_type
    return bpf(Cmd.PROG_LOAD, attr, f"load program {name!r}")


@dataclass(frozen=True)
class TestRunOutput:
    """What ``BPF_PROG_TEST_RUN`` returned."""

    retval: int
    duration_ns: int
    data_out: bytes
    ctx_out: bytes


def prog_test_run(
    prog_fd: int,
    data_in: bytes = b"",
    *,
    data_out_size: int = 0,
    ctx_in: bytes = b"",
    ctx_out_size: int = 0,
    repeat: int = 1,
    flags: int = 0,
    cpu: int = 0,
) -> TestRunOutput:
    """``BPF_PROG_TEST_RUN``: run the program in the kernel on ``data_in``/``ctx_in``."""
    data_in_buf = ffi.from_buffer(data_in) if data_in else ffi.NULL
    ctx_in_buf = ffi.from_buffer(ctx_in) if ctx_in else ffi.NULL
    data_out = ffi.new("char[]", data_out_size) if data_out_size else ffi.NULL
    ctx_out = ffi.new("char[]", ctx_out_size) if ctx_out_size else ffi.NULL
    attr = new_attr(Cmd.PROG_TEST_RUN)
    attr.prog_fd = prog_fd
    attr.data_size_in = len(data_in)
    attr.data_size_out = data_out_size
    attr.data_in = address_of(data_in_buf)
    attr.data_out = address_of(data_out)
    attr.repeat = repeat
    attr.ctx_size_in = len(ctx_in)
    attr.ctx_size_out = ctx_out_size
    attr.ctx_in = address_of(ctx_in_buf)
    attr.ctx_out = address_of(ctx_out)
    attr.flags = flags
    attr.cpu = cpu
    bpf(Cmd.PROG_TEST_RUN, attr, "test-run program")
    data = ffi.buffer(data_out, min(attr.data_size_out, data_out_size))[:] if data_out_size else b""
    ctx = ffi.buffer(ctx_out, min(attr.ctx_size_out, ctx_out_size))[:] if ctx_out_size else b""
    return TestRunOutput(attr.retval, attr.duration, data, ctx)


def obj_get_info_by_fd(fd: int, info_struct: str) -> object:
    """``BPF_OBJ_GET_INFO_BY_FD``; ``info_struct`` is ``"struct bpf_prog_info"`` or
    ``"struct bpf_map_info"``. Returns the filled cffi struct (fields the kernel lacks stay 0)."""
    info = ffi.new(info_struct + " *")
    attr = new_attr(Cmd.OBJ_GET_INFO_BY_FD)
    attr.bpf_fd = fd
    attr.info_len = ffi.sizeof(info_struct)
    attr.info = address_of(info)
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, f"get info of fd {fd}")
    return info


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> int:
    """``BPF_LINK_CREATE``; returns the link's fd."""
    attr = new_attr(Cmd.LINK_CREATE)
    attr.prog_fd = prog_fd
    attr.target_fd = target_fd
    attr.attach_type = attach_type
    attr.flags = flags
    return bpf(Cmd.LINK_CREATE, attr, "create link")


def raw_tracepoint_open(prog_fd: int, name: str | None) -> int:
    """``BPF_RAW_TRACEPOINT_OPEN`` of tracepoint ``name`` (None: a BTF tracepoint program names
    its own); returns the link's fd."""
    name_buf = ffi.new("char[]", name.encode()) if name else None
    attr = new_attr(Cmd.RAW_TRACEPOINT_OPEN)
    attr.name = address_of(name_buf)
    attr.prog_fd = prog_fd
    return bpf(Cmd.RAW_TRACEPOINT_OPEN, attr, f"attach raw tracepoint {name or '(BTF)'}")


def enable_stats(stats_type: int = 0) -> int:
    """``BPF_ENABLE_STATS`` (type 0: BPF_STATS_RUN_TIME); stats stay on while the fd is open."""
    attr = new_attr(Cmd.ENABLE_STATS)
    attr.type = stats_type
    return bpf(Cmd.ENABLE_STATS, attr, "enable BPF run-time stats")


def close_fd(fd: int) -> None:
    """Close a BPF object's fd through the seam."""
    syscall.kernel().close(fd)
