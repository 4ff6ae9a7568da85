"""Probe points in real Tokio builds: spawn and poll function copies, by demangled name."""

from __future__ import annotations

import re
import subprocess

import pytest

from profiler.bpf.spawn_symbols import (
    INNER_SPAWN,
    POLL_FUNCTIONS,
    SPAWN_FUNCTIONS,
    base_name,
    find_probe_points,
)
from profiler.bpf.spawn_tracker import SpawnTracker
from tests.dwarf_async.builds import build_tokio_app
from tests.support import require_tool


def test_base_name_strips_generics_impl_brackets_and_llvm_suffixes():
    assert base_name("tokio::runtime::task::raw::poll") == "tokio::runtime::task::raw::poll"
    assert (
        base_name("tokio::runtime::task::raw::poll::<app::f::{closure#0}, Arc<H>>.llvm.123")
        == "tokio::runtime::task::raw::poll"
    )
    assert (
        base_name("<tokio::runtime::scheduler::Handle>::spawn::<app::g::{closure#0}>")
        == "tokio::runtime::scheduler::Handle::spawn"
    )


@pytest.mark.parametrize("variant", ["legacy", "legacy_fp", "v0_fp_dwarf5"])
def test_every_build_has_spawn_and_poll_copies(variant):
    binary = build_tokio_app(variant)
    points = find_probe_points(binary)
    assert points.usable
    # One probed spawn copy per spawned future type (handler, background): the funnel
    # scheduler::Handle::spawn, the tokio::spawn copies that call it being left out.
    assert [p.name for p in points.spawns] == [INNER_SPAWN, INNER_SPAWN]
    # One raw::poll per (future, scheduler) pair: 2 futures x 2 schedulers + the blocking task.
    assert len(points.polls) == 5
    assert {p.name for p in points.polls} == set(POLL_FUNCTIONS)


@pytest.mark.parametrize("variant", ["legacy", "v0_fp_dwarf5"])
def test_the_left_out_spawn_copies_call_a_probed_one(variant):
    objdump, nm = require_tool("objdump"), require_tool("nm")
    binary = build_tokio_app(variant)
    probed = {p.address for p in find_probe_points(binary).spawns}
    symbols = subprocess.run([nm, "-C", binary], capture_output=True, text=True, check=True)
    outer = [
        int(line.split()[0], 16)
        for line in symbols.stdout.splitlines()
        if base_name(line.split(" ", 2)[2]) in SPAWN_FUNCTIONS
        and int(line.split()[0], 16) not in probed
    ]
    assert len(outer) == 2  # the two tokio::task::spawn::spawn copies
    for address in outer:
        out = subprocess.run(
            [
                objdump,
                "-d",
                "--no-show-raw-insn",
                f"--start-address={address:#x}",
                f"--stop-address={address + 0x100:#x}",
                binary,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        calls = {int(m, 16) for m in re.findall(r"\scall\s+([0-9a-f]+) <", out)}
        assert calls & probed, f"{address:#x} calls none of the probed copies"


@pytest.mark.parametrize("variant", ["legacy_fp", "v0_fp_dwarf5"])
def test_offsets_point_at_the_functions_as_objdump_sees_them(variant):
    objdump = require_tool("objdump")
    binary = build_tokio_app(variant)
    points = find_probe_points(binary)
    with open(binary, "rb") as f:
        data = f.read()
    for point in points.spawns + points.polls:
        # objdump disassembles by address; the bytes at our file offset must be the same.
        out = subprocess.run(
            [
                objdump,
                "-d",
                f"--start-address={point.address:#x}",
                f"--stop-address={point.address + 4:#x}",
                binary,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{point.address:x}:"))
        first = bytes.fromhex(line.split("\t")[1].replace(" ", ""))
        assert data[point.offset : point.offset + len(first)] == first, point


def test_a_binary_without_tokio_is_refused_before_any_kernel_object(no_fd_leak):
    gcc = require_tool("gcc")
    with pytest.raises(LookupError, match="no tokio spawn"):
        SpawnTracker(gcc)
