"""The ``bpf(2)`` attribute layouts pybpf uses, declared once from ``linux/bpf.h``.

``union bpf_attr`` holds one anonymous struct per command. Each is declared here as its own
named struct, field for field as in the kernel UAPI (``__aligned_u64`` is ``uint64_t``, which is
8-byte aligned on the architectures pybpf supports). A command's attr is allocated zeroed by
:func:`new_attr` and passed with the size of its own struct, i.e. up to the last field the
command uses: the kernel checks that every byte past what it knows is zero, so a short, zeroed
attr works on old and new kernels alike.

The info structs filled by ``BPF_OBJ_GET_INFO_BY_FD`` are declared here too.
"""

from __future__ import annotations

import enum

from cffi import FFI

ffi = FFI()
ffi.cdef(
    """
    /* BPF_MAP_CREATE */
    struct bpf_attr_map_create {
        uint32_t map_type;
        uint32_t key_size;
        uint32_t value_size;
        uint32_t max_entries;
        uint32_t map_flags;
        uint32_t inner_map_fd;
        uint32_t numa_node;
        char     map_name[16];
        uint32_t map_ifindex;
        uint32_t btf_fd;
        uint32_t btf_key_type_id;
        uint32_t btf_value_type_id;
        uint32_t btf_vmlinux_value_type_id;
        uint64_t map_extra;
    };

    /* BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM */
    struct bpf_attr_map_elem {
        uint32_t map_fd;
        uint64_t key;
        uint64_t value;     /* or next_key */
        uint64_t flags;
    };

    /* BPF_MAP_*_BATCH */
    struct bpf_attr_map_batch {
        uint64_t in_batch;
        uint64_t out_batch;
        uint64_t keys;
        uint64_t values;
        uint32_t count;
        uint32_t map_fd;
        uint64_t elem_flags;
        uint64_t flags;
    };

    /* BPF_PROG_LOAD, up to expected_attach_type (the last field pybpf sets) */
    struct bpf_attr_prog_load {
        uint32_t prog_type;
        uint32_t insn_cnt;
        uint64_t insns;
        uint64_t license;
        uint32_t log_level;
        uint32_t log_size;
        uint64_t log_buf;
        uint32_t kern_version;
        uint32_t prog_flags;
        char     prog_name[16];
        uint32_t prog_ifindex;
        uint32_t expected_attach_type;
    };

    /* BPF_PROG_TEST_RUN */
    struct bpf_attr_test_run {
        uint32_t prog_fd;
        uint32_t retval;
        uint32_t data_size_in;
        uint32_t data_size_out;
        uint64_t data_in;
        uint64_t data_out;
        uint32_t repeat;
        uint32_t duration;
        uint32_t ctx_size_in;
        uint32_t ctx_size_out;
        uint64_t ctx_in;
        uint64_t ctx_out;
        uint32_t flags;
        uint32_t cpu;
    };

    /* BPF_OBJ_GET_INFO_BY_FD */
    struct bpf_attr_obj_info {
        uint32_t bpf_fd;
        uint32_t info_len;
        uint64_t info;
    };

    /* BPF_LINK_CREATE, up to the perf_event.bpf_cookie member of the inner union */
    struct bpf_attr_link_create {
        uint32_t prog_fd;
        uint32_t target_fd;
        uint32_t attach_type;
        uint32_t flags;
        uint64_t bpf_cookie;
    };

    /* BPF_RAW_TRACEPOINT_OPEN, up to prog_fd (the cookie of 6.10+ is not used) */
    struct bpf_attr_raw_tracepoint_open {
        uint64_t name;      /* const char *, or 0 for a BTF tracepoint program */
        uint32_t prog_fd;
    };

    /* BPF_ENABLE_STATS */
    struct bpf_attr_enable_stats {
        uint32_t type;
    };

    struct bpf_prog_info {
        uint32_t type;
        uint32_t id;
        uint8_t  tag[8];
        uint32_t jited_prog_len;
        uint32_t xlated_prog_len;
        uint64_t jited_prog_insns;
        uint64_t xlated_prog_insns;
        uint64_t load_time;
        uint32_t created_by_uid;
        uint32_t nr_map_ids;
        uint64_t map_ids;
        char     name[16];
        uint32_t ifindex;
        uint32_t gpl_compatible_bits;   /* gpl_compatible:1, then 31 bits of padding */
        uint64_t netns_dev;
        uint64_t netns_ino;
        uint32_t nr_jited_ksyms;
        uint32_t nr_jited_func_lens;
        uint64_t jited_ksyms;
        uint64_t jited_func_lens;
        uint32_t btf_id;
        uint32_t func_info_rec_size;
        uint64_t func_info;
        uint32_t nr_func_info;
        uint32_t nr_line_info;
        uint64_t line_info;
        uint64_t jited_line_info;
        uint32_t nr_jited_line_info;
        uint32_t line_info_rec_size;
        uint32_t jited_line_info_rec_size;
        uint32_t nr_prog_tags;
        uint64_t prog_tags;
        uint64_t run_time_ns;
        uint64_t run_cnt;
        uint64_t recursion_misses;
        uint32_t verified_insns;
        uint32_t attach_btf_obj_id;
        uint32_t attach_btf_id;
        uint32_t pad;
    };

    struct bpf_map_info {
        uint32_t type;
        uint32_t id;
        uint32_t key_size;
        uint32_t value_size;
        uint32_t max_entries;
        uint32_t map_flags;
        char     name[16];
        uint32_t ifindex;
        uint32_t btf_vmlinux_value_type_id;
        uint64_t netns_dev;
        uint64_t netns_ino;
        uint32_t btf_id;
        uint32_t btf_key_type_id;
        uint32_t btf_value_type_id;
        uint32_t pad;
        uint64_t map_extra;
    };
    """
)

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
