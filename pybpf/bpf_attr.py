"""The ``bpf(2)`` attribute layouts pybpf uses, declared once from ``linux/bpf.h``.

``union bpf_attr`` holds one anonymous struct per command. Each is declared as its own named
struct, field for field as in the kernel UAPI, in :mod:`pybpf.abi_source` with the rest of
pybpf's C declarations (``__aligned_u64`` is ``uint64_t``, which is 8-byte aligned on the
architectures pybpf supports). A command's attr is allocated zeroed by :func:`new_attr` and
passed with the size of its own struct, i.e. up to the last field the command uses: the kernel
checks that every byte past what it knows is zero, so a short, zeroed attr works on old and new
kernels alike.

The info structs filled by ``BPF_OBJ_GET_INFO_BY_FD`` are declared there too.
"""

from __future__ import annotations

import enum

from .abi import ffi

#: ``BPF_OBJ_NAME_LEN``: object names hold 15 characters and a NUL.
OBJ_NAME_LEN = 16


class Cmd(enum.IntEnum):
    """``enum bpf_cmd`` (the commands pybpf issues, and their neighbours)."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35


#: The attr struct each command is issued with (its size is the ``size`` argument of bpf(2)).
ATTR_STRUCT: dict[Cmd, str] = {
    Cmd.MAP_CREATE: "struct bpf_attr_map_create",
    Cmd.MAP_LOOKUP_ELEM: "struct bpf_attr_map_elem",
    Cmd.MAP_UPDATE_ELEM: "struct bpf_attr_map_elem",
    Cmd.MAP_DELETE_ELEM: "struct bpf_attr_map_elem",
    Cmd.MAP_GET_NEXT_KEY: "struct bpf_attr_map_elem",
    Cmd.MAP_LOOKUP_AND_DELETE_ELEM: "struct bpf_attr_map_elem",
    Cmd.MAP_LOOKUP_BATCH: "struct bpf_attr_map_batch",
    Cmd.MAP_LOOKUP_AND_DELETE_BATCH: "struct bpf_attr_map_batch",
    Cmd.MAP_UPDATE_BATCH: "struct bpf_attr_map_batch",
    Cmd.MAP_DELETE_BATCH: "struct bpf_attr_map_batch",
    Cmd.PROG_LOAD: "struct bpf_attr_prog_load",
    Cmd.PROG_TEST_RUN: "struct bpf_attr_test_run",
    Cmd.OBJ_GET_INFO_BY_FD: "struct bpf_attr_obj_info",
    Cmd.LINK_CREATE: "struct bpf_attr_link_create",
    Cmd.RAW_TRACEPOINT_OPEN: "struct bpf_attr_raw_tracepoint_open",
    Cmd.ENABLE_STATS: "struct bpf_attr_enable_stats",
}


def new_attr(cmd: Cmd) -> object:
    """Return a zeroed attr (a cffi pointer) for ``cmd``; its size is :func:`attr_size`."""
    return ffi.new(ATTR_STRUCT[cmd] + " *")


def attr_size(cmd: Cmd) -> int:
    """The ``size`` argument of bpf(2) for ``cmd``: its struct up to the last field used."""
    return ffi.sizeof(ATTR_STRUCT[cmd])


def address_of(buf: object) -> int:
    """The user-space address of a cffi buffer, as the ``__aligned_u64`` the kernel expects."""
    if buf is None or buf == ffi.NULL:
        return 0
    return int(ffi.cast("uintptr_t", buf))
