"""Raw tracepoints: a program runs on sched_switch while its link is open and not after; the
attr carries the name; errors name the problem (a missing tracepoint, missing privileges)."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import time

import pytest

from pybpf.asm import DW, R0, R1, R10, Assembler, W
from pybpf.bpf_attr import Cmd, ffi
from pybpf.errors import BPFError, MissingPrivilegesError
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.raw_tracepoint import RawTracepointLink, attach_raw_tracepoint
from pybpf.syscall import use_kernel
from tests.conftest import bpf_objects_held_by

from .fake_kernel import FAKE_FDS, ScriptedKernel, fail, returns_fd

pytestmark = pytest.mark.bpf


def counter(runs) -> Assembler:
    """``runs[0] += 1`` on every run (an atomic add: switches happen on every CPU at once)."""
    a = Assembler()
    a.st(W, R10, -4, 0)
    a.lookup_or_jump(runs, -4, "out")
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1)
    a.label("out")
    a.mov(R0, 0)
    a.exit()
    return a


def runs_of(runs) -> int:
    return struct.unpack("=Q", runs.lookup(struct.pack("=I", 0)))[0]


def test_program_runs_on_sched_switch_until_the_link_is_closed(no_fd_leak):
    with (
        MapSpec("rt_runs", MapType.ARRAY, 4, 8, 1).create() as runs,
        ProgramSpec("rt_count", ProgramType.RAW_TRACEPOINT, counter(runs)).load() as prog,
    ):
        link = attach_raw_tracepoint(prog, "sched_switch")
        assert isinstance(link, RawTracepointLink) and "sched_switch" in repr(link)
        assert any("link" in h for h in bpf_objects_held_by(os.getpid()))
        deadline = time.monotonic() + 10
        while runs_of(runs) == 0:  # any context switch on the machine runs it
            assert time.monotonic() < deadline, "the program never ran"
            subprocess.run(["true"], check=True)
        link.close()
        link.close()  # once only
        assert link.closed
        before = runs_of(runs)
        for _ in range(5):
            subprocess.run(["true"], check=True)  # switches galore: none reaches the program
        assert runs_of(runs) == before
    assert not any("link" in h for h in bpf_objects_held_by(os.getpid()))


def test_unknown_tracepoint_says_so():
    spec = ProgramSpec("rt_none", ProgramType.RAW_TRACEPOINT, Assembler().mov(R0, 0).exit())
    with spec.load() as prog, pytest.raises(BPFError) as info:
        attach_raw_tracepoint(prog, "no_such_tracepoint_here")
    assert info.value.errno == errno.ENOENT
    assert "no such tracepoint" in str(info.value)


class FakeProgram:
    fd = FAKE_FDS[1]


def test_attr_names_the_tracepoint_and_the_program():
    seen = {}

    def open_(attr):
        seen["name"] = ffi.string(ffi.cast("char *", attr.name)).decode()
        seen["prog_fd"] = attr.prog_fd
        return returns_fd()(attr)

    fake = ScriptedKernel({Cmd.RAW_TRACEPOINT_OPEN: open_})
    with use_kernel(fake):
        link = attach_raw_tracepoint(FakeProgram(), "sched_switch")
        assert link.fd == FAKE_FDS[0]
        link.close()
    assert seen == {"name": "sched_switch", "prog_fd": FAKE_FDS[1]}
    assert fake.closed == [FAKE_FDS[0]]
    # A BTF tracepoint program names its own tracepoint: the attr's name is NULL.
    fake = ScriptedKernel({Cmd.RAW_TRACEPOINT_OPEN: lambda attr: attr.name or FAKE_FDS[2]})
    with use_kernel(fake), attach_raw_tracepoint(FakeProgram(), None) as link:
        assert link.fd == FAKE_FDS[2] and link.name == "(BTF)"


def test_missing_privileges():
    fake = ScriptedKernel({Cmd.RAW_TRACEPOINT_OPEN: fail(errno.EPERM)})
    with use_kernel(fake), pytest.raises(MissingPrivilegesError) as info:
        attach_raw_tracepoint(FakeProgram(), "sched_switch")
    assert "CAP_BPF" in str(info.value)
