"""Our bpf_attr and info layouts agree with the kernel UAPI header as the C compiler lays it out."""

from __future__ import annotations

import os
import subprocess

import pytest

from pybpf.bpf_attr import ATTR_STRUCT, Cmd, attr_size, ffi, new_attr
from tests.support import require_tool, skip_or_fail

HEADER = "/usr/include/linux/bpf.h"

# Our struct -> (the C expression prefix in the UAPI, the fields we declare).
ATTR_FIELDS = {
    "struct bpf_attr_map_create": (
        "",
        "map_type key_size value_size max_entries map_flags inner_map_fd numa_node map_name "
        "map_ifindex btf_fd btf_key_type_id btf_value_type_id btf_vmlinux_value_type_id "
        "map_extra",
    ),
    "struct bpf_attr_map_elem": ("", "map_fd key value flags"),
    "struct bpf_attr_map_batch": (
        "batch.",
        "in_batch out_batch keys values count map_fd elem_flags flags",
    ),
    "struct bpf_attr_prog_load": (
        "",
        "prog_type insn_cnt insns license log_level log_size log_buf kern_version prog_flags "
        "prog_name prog_ifindex expected_attach_type",
    ),
    "struct bpf_attr_test_run": (
        "test.",
        "prog_fd retval data_size_in data_size_out data_in data_out repeat duration ctx_size_in "
        "ctx_size_out ctx_in ctx_out flags cpu",
    ),
    "struct bpf_attr_obj_info": ("info.", "bpf_fd info_len info"),
    "struct bpf_attr_link_create": ("link_create.", "prog_fd target_fd attach_type flags"),
    "struct bpf_attr_raw_tracepoint_open": ("raw_tracepoint.", "name prog_fd"),
    "struct bpf_attr_enable_stats": ("enable_stats.", "type"),
}
INFO_STRUCTS = {
    "struct bpf_prog_info": "type id tag jited_prog_len xlated_prog_len jited_prog_insns "
    "xlated_prog_insns load_time created_by_uid nr_map_ids map_ids name ifindex netns_dev "
    "netns_ino nr_jited_ksyms nr_jited_func_lens jited_ksyms jited_func_lens btf_id "
    "func_info_rec_size func_info nr_func_info nr_line_info line_info jited_line_info "
    "nr_jited_line_info line_info_rec_size jited_line_info_rec_size nr_prog_tags prog_tags "
    "run_time_ns run_cnt recursion_misses verified_insns attach_btf_obj_id attach_btf_id",
    "struct bpf_map_info": "type id key_size value_size max_entries map_flags name ifindex "
    "btf_vmlinux_value_type_id netns_dev netns_ino btf_id btf_key_type_id btf_value_type_id "
    "map_extra",
}


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    """offsetof/sizeof of every field, printed by a C program compiled against the header."""
    gcc = require_tool("gcc")
    if not os.path.exists(HEADER):
        skip_or_fail(f"{HEADER} is not installed (linux-libc-dev)")
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        "#include <linux/bpf.h>",
        "int main(void) {",
    ]
    for ours, (prefix, fields) in ATTR_FIELDS.items():
        for f in fields.split():
            lines.append(
                f'printf("{ours[7:]}.{f} %zu %zu\\n", offsetof(union bpf_attr, {prefix}{f}), '
                f"sizeof(((union bpf_attr *)0)->{prefix}{f}));"
            )
    lines.append(
        'printf("link_create.bpf_cookie %zu\\n", '
        "offsetof(union bpf_attr, link_create.perf_event.bpf_cookie));"
    )
    for struct, fields in INFO_STRUCTS.items():
        for f in fields.split():
            lines.append(
                f'printf("{struct[7:]}.{f} %zu %zu\\n", offsetof({struct}, {f}), '
                f"sizeof((({struct} *)0)->{f}));"
            )
        lines.append(f'printf("{struct[7:]} %zu\\n", sizeof({struct}));')
    lines += ["return 0;", "}"]
    tmp = tmp_path_factory.mktemp("layout")
    (tmp / "layout.c").write_text("\n".join(lines))
    subprocess.run([gcc, "-o", str(tmp / "layout"), str(tmp / "layout.c")], check=True)
    out = subprocess.run([str(tmp / "layout")], capture_output=True, text=True, check=True)
    return {
        name: tuple(map(int, rest))
        for name, *rest in (ln.split() for ln in out.stdout.splitlines())
    }


def field(struct: str, name: str) -> tuple[int, int]:
    """(offset, size) of a field of one of our cffi structs."""
    f = dict(ffi.typeof(struct).fields)[name]
    return f.offset, ffi.sizeof(f.type)


def test_attr_fields_match_union_bpf_attr(c_layout):
    for ours, (_prefix, fields) in ATTR_FIELDS.items():
        for f in fields.split():
            assert field(ours, f) == c_layout[f"{ours[7:]}.{f}"], f"{ours}.{f}"
    assert (
        field("struct bpf_attr_link_create", "bpf_cookie")[0]
        == c_layout["link_create.bpf_cookie"][0]
    )


def test_info_structs_match_the_header(c_layout):
    for struct, fields in INFO_STRUCTS.items():
        for f in fields.split():
            assert field(struct, f) == c_layout[f"{struct[7:]}.{f}"], f"{struct}.{f}"
        assert ffi.sizeof(struct) == c_layout[struct[7:]][0]


def test_attr_size_ends_at_the_last_field_used():
    # Each command is issued with exactly its own struct: never larger than union bpf_attr
    # (older kernels reject unknown non-zero tails; a short attr is always accepted).
    for cmd, struct in ATTR_STRUCT.items():
        assert attr_size(cmd) == ffi.sizeof(struct)
        assert bytes(ffi.buffer(new_attr(cmd))) == bytes(attr_size(cmd))  # zeroed
    last = ffi.offsetof("struct bpf_attr_prog_load", "expected_attach_type") + 4
    assert attr_size(Cmd.PROG_LOAD) == last
