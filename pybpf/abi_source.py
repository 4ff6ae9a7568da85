"""pybpf's C declarations, in one place: libc, ``bpf(2)`` attrs and info structs, perf events.

They are not parsed at run time: ``python -m pybpf.abi_source --write`` renders them into
:mod:`pybpf._abi` (cffi's out-of-line ABI mode, pre-parsed type tables; see
:mod:`pybpf.abi_codegen`), which :mod:`pybpf.abi` loads. Change a declaration here, then
regenerate; a test fails while the committed module is stale.

Layouts follow the kernel UAPI field for field. ``union bpf_attr`` holds one anonymous struct
per command; each is declared as its own named struct (``__aligned_u64`` is ``uint64_t``, which
is 8-byte aligned on the architectures pybpf supports), up to the last field pybpf uses: the
kernel checks that every byte past what it knows is zero, so a short, zeroed attr works on old
and new kernels alike.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .abi_codegen import main as _codegen_main

#: The generated module and where it lives.
MODULE_NAME = "pybpf._abi"
MODULE_PATH = Path(__file__).with_name("_abi.py")

#: The declarations, in cffi's cdef dialect (C with ``...`` for variadic functions).
CDEF = """
    /* ---- libc (reached with dlopen(None)); the kernel's own calls go through syscall(2) ---- */
    long syscall(long number, ...);
    int ioctl(int fd, unsigned long request, ...);
    int close(int fd);
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
    int munmap(void *addr, size_t length);
    struct rlimit { unsigned long rlim_cur; unsigned long rlim_max; };
    int getrlimit(int resource, struct rlimit *rlim);
    int setrlimit(int resource, const struct rlimit *rlim);
    int mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const void *data);

    /* A memory fence for the ring readers on weakly ordered CPUs (pybpf.perf_buffer): only
       ever allocated by us, so an opaque block at least as large as glibc's (40/48 bytes). */
    typedef struct { char opaque[64]; } pthread_mutex_t;
    int pthread_mutex_lock(pthread_mutex_t *m);
    int pthread_mutex_unlock(pthread_mutex_t *m);

    /* ---- bpf(2): linux/bpf.h, one struct per command of union bpf_attr ---- */

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

    /* BPF_OBJ_GET_INFO_BY_FD fills these */
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

    /* ---- perf_event_open(2): linux/perf_event.h ----
       struct perf_event_attr (PERF_ATTR_SIZE_VER7, 128 bytes). cffi lays bit-fields out as
       the C compiler does; tests check the flag bits land where the kernel expects them. */
    struct perf_event_attr {
        uint32_t type;
        uint32_t size;
        uint64_t config;
        union {
            uint64_t sample_period;
            uint64_t sample_freq;
        };
        uint64_t sample_type;
        uint64_t read_format;
        uint64_t disabled       : 1,
                 inherit        : 1,
                 pinned         : 1,
                 exclusive      : 1,
                 exclude_user   : 1,
                 exclude_kernel : 1,
                 exclude_hv     : 1,
                 exclude_idle   : 1,
                 mmap           : 1,
                 comm           : 1,
                 freq           : 1,
                 inherit_stat   : 1,
                 enable_on_exec : 1,
                 task           : 1,
                 watermark      : 1,
                 precise_ip     : 2,
                 mmap_data      : 1,
                 sample_id_all  : 1,
                 exclude_host   : 1,
                 exclude_guest  : 1,
                 exclude_callchain_kernel : 1,
                 exclude_callchain_user   : 1,
                 mmap2          : 1,
                 comm_exec      : 1,
                 use_clockid    : 1,
                 context_switch : 1,
                 write_backward : 1,
                 namespaces     : 1,
                 ksymbol        : 1,
                 bpf_event      : 1,
                 aux_output     : 1,
                 cgroup         : 1,
                 text_poke      : 1,
                 build_id       : 1,
                 inherit_thread : 1,
                 remove_on_exec : 1,
                 sigtrap        : 1,
                 __reserved_1   : 26;
        union {
            uint32_t wakeup_events;
            uint32_t wakeup_watermark;
        };
        uint32_t bp_type;
        union {
            uint64_t bp_addr;
            uint64_t kprobe_func;
            uint64_t uprobe_path;
            uint64_t config1;
        };
        union {
            uint64_t bp_len;
            uint64_t kprobe_addr;
            uint64_t probe_offset;
            uint64_t config2;
        };
        uint64_t branch_sample_type;
        uint64_t sample_regs_user;
        uint32_t sample_stack_user;
        int32_t  clockid;
        uint64_t sample_regs_intr;
        uint32_t aux_watermark;
        uint16_t sample_max_stack;
        uint16_t __reserved_2;
        uint32_t aux_sample_size;
        uint32_t __reserved_3;
        uint64_t sig_data;
    };
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m pybpf.abi_source --write|--check``: regenerate or check :mod:`pybpf._abi`."""
    return _codegen_main(
        argv, cdef=CDEF, module_name=MODULE_NAME, source_module="pybpf.abi_source", path=MODULE_PATH
    )


if __name__ == "__main__":
    sys.exit(main())
