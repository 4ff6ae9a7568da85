"""The helper table against the running kernel's BTF and the installed UAPI header."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from pybpf.asm import HELPER_IDS, UnknownHelperError, helper_id, helper_name
from tests.support import require_tool, skip_or_fail

UAPI_HEADER = "/usr/include/linux/bpf.h"
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


def test_table_matches_the_running_kernels_enum_bpf_func_id():
    bpftool = require_tool("bpftool")
    if not os.access(VMLINUX_BTF, os.R_OK):
        skip_or_fail(f"needs the kernel's BTF at {VMLINUX_BTF}")
    out = subprocess.run(
        [bpftool, "btf", "dump", "file", VMLINUX_BTF, "format", "c"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kernel = {name: int(value) for name, value in re.findall(r"\bBPF_FUNC_(\w+) = (\d+),", out)}
    assert kernel, "no enum bpf_func_id in the kernel's BTF"
    # the kernel's list is frozen at cgrp_storage_delete (new functions are kfuncs)
    assert HELPER_IDS == kernel


def test_table_agrees_with_the_installed_uapi_header():
    if not os.path.exists(UAPI_HEADER):
        skip_or_fail(f"no {UAPI_HEADER} (linux-libc-dev)")
    with open(UAPI_HEADER) as header:
        text = header.read()
    mapper = re.search(r"#define (___|__)BPF_FUNC_MAPPER\(FN.*?\n(.*?)/\* \*/", text, re.S)
    assert mapper is not None
    names = re.findall(r"FN\((\w+)", mapper.group(2))
    explicit = dict(re.findall(r"FN\((\w+), (\d+)", mapper.group(2)))
    for position, name in enumerate(names):
        # older headers list names in id order; newer ones also spell the id out
        assert HELPER_IDS[name] == int(explicit.get(name, position))


def test_names_with_and_without_prefix_and_ids():
    assert helper_id("map_lookup_elem") == helper_id("bpf_map_lookup_elem") == 1
    assert helper_id(HELPER_IDS["get_stackid"]) == HELPER_IDS["get_stackid"]
    assert helper_name(HELPER_IDS["get_current_pid_tgid"]) == "get_current_pid_tgid"
    assert helper_name(100_000) is None


def test_unknown_helpers_are_refused_with_suggestions():
    with pytest.raises(UnknownHelperError, match="get_current_pid_tgid"):
        helper_id("get_current_pidtgid")
    with pytest.raises(UnknownHelperError):
        helper_id("unspec")  # id 0 is not a helper
    with pytest.raises(UnknownHelperError):
        helper_id(max(HELPER_IDS.values()) + 1)
    with pytest.raises(TypeError):
        helper_id(True)  # type: ignore[arg-type]
