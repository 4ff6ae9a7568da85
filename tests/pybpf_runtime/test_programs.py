"""Programs on the real kernel: load each type, test_run, info, verifier errors with listings."""

from __future__ import annotations

import errno
import json
import struct
import subprocess
import sys

import pytest

from pybpf import programs
from pybpf.asm import DW, R0, R1, R2, R6, R10, Assembler, W
from pybpf.bpf_commands import enable_stats
from pybpf.errors import BPFError, VerifierError
from pybpf.maps import MapSpec, MapType
from pybpf.programs import AttachType, ProgramSpec, ProgramType
from pybpf.syscall import Kernel, kernel, use_kernel
from tests.support import require_tool

pytestmark = pytest.mark.bpf

PACKET = bytes(range(64))  # socket filter test runs need at least an Ethernet header


def returns(value: int) -> Assembler:
    return Assembler().mov(R0, value).exit()


@pytest.mark.parametrize(
    "prog_type",
    [
        ProgramType.SOCKET_FILTER,
        ProgramType.KPROBE,
        ProgramType.TRACEPOINT,
        ProgramType.PERF_EVENT,
        ProgramType.RAW_TRACEPOINT,
        ProgramType.SCHED_CLS,
        ProgramType.XDP,
    ],
    ids=lambda t: t.name,
)
def test_program_types_load(prog_type, no_fd_leak):
    with ProgramSpec("ok", prog_type, returns(0)).load() as prog:
        info = prog.info()
    assert info.type == prog_type
    assert info.name == "ok"
    assert info.verified_insns >= 2
    assert prog.closed


def test_program_by_numeric_type_id(no_fd_leak):
    with ProgramSpec("by_id", int(ProgramType.SOCKET_FILTER), returns(1)).load() as prog:
        assert prog.test_run(PACKET).retval == 1


def test_raw_instruction_bytes_load(no_fd_leak):
    raw = struct.pack("<BBhi", 0xB7, 0, 0, 7) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    with ProgramSpec("raw", ProgramType.SOCKET_FILTER, raw).load() as prog:
        assert prog.test_run(PACKET).retval == 7


def test_test_run_returns_r0_data_and_duration(no_fd_leak):
    a = Assembler()
    a.ldx(W, R0, R1, 0, comment="skb->len")
    a.exit()
    # A tc classifier sees the whole frame, Ethernet header included (a socket filter does not).
    with ProgramSpec("len", ProgramType.SCHED_CLS, a).load() as prog:
        result = prog.test_run(PACKET, repeat=100)
    assert result.retval == len(PACKET)
    assert result.data_out == PACKET
    assert result.duration_ns > 0  # 100 runs take time; the kernel reports the mean


def test_program_uses_a_map(no_fd_leak):
    with MapSpec("counter", MapType.ARRAY, 4, 8, 1).create() as counter:
        a = Assembler()
        a.st(W, R10, -4, 0, comment="key 0")
        a.lookup_or_jump(counter, -4, "out")
        a.mov(R1, 1)
        a.atomic_add(DW, R0, 0, R1)
        a.label("out")
        a.mov(R0, 0)
        a.exit()
        spec = ProgramSpec("count", ProgramType.SOCKET_FILTER, a, maps={"counter": counter})
        with spec.load() as prog:
            prog.test_run(PACKET, repeat=5)
            prog.test_run(PACKET, repeat=3)
        assert int.from_bytes(counter.lookup(0), sys.byteorder) == 8


def test_maps_resolved_by_name(no_fd_leak):
    with MapSpec("named", MapType.ARRAY, 4, 8, 1).create() as m:
        a = Assembler()
        a.ld_map_value(R1, "named", 0)
        a.st(DW, R1, 0, 99)
        a.mov(R0, 0).exit()
        with ProgramSpec("by_name", ProgramType.SOCKET_FILTER, a, maps={"named": m}).load() as p:
            p.test_run(PACKET)
        assert int.from_bytes(m[0], sys.byteorder) == 99


def test_info_and_run_stats_agree_with_bpftool(no_fd_leak):
    bpftool = require_tool("bpftool")
    stats_fd = enable_stats()
    try:
        with ProgramSpec("stats", ProgramType.SOCKET_FILTER, returns(0)).load() as prog:
            prog.test_run(PACKET, repeat=50)
            info = prog.info()
            shown = json.loads(
                subprocess.run(
                    [bpftool, "-j", "prog", "show", "id", str(info.id)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
    finally:
        kernel().close(stats_fd)
    assert shown["name"] == "stats"
    assert shown["type"] == "socket_filter"
    assert shown["tag"] == info.tag
    assert info.run_cnt == 50 == shown["run_cnt"]
    assert info.run_time_ns == shown["run_time_ns"] > 0


def uninitialised_read() -> tuple[Assembler, int]:
    a = Assembler()
    a.mov(R6, R1, comment="save ctx")
    a.ld_imm64(R0, 0x1122334455667788, comment="two slots")
    bad = len(a)
    a.mov(R0, R2, comment="r2 is never written")
    a.exit()
    return a, bad


def test_uninitialised_register_read_is_a_verifier_error_with_our_listing(no_fd_leak):
    a, bad = uninitialised_read()
    with pytest.raises(VerifierError) as info:
        ProgramSpec("bad", ProgramType.SOCKET_FILTER, a).load()
    err = info.value
    assert err.errno == errno.EACCES
    assert "R2 !read_ok" in err.complaint
    assert "R2 !read_ok" in str(err)
    assert err.insn_index == bad
    ours = [ln for ln in a.listing(around=bad).splitlines() if ln.startswith(">")]
    assert len(ours) == 1 and "r2 is never written" in ours[0]
    assert ours[0] in err.listing and ours[0] in str(err)
    assert f"{bad}: (bf) r0 = r2" in err.log


def test_verifier_log_grows_on_enospc_with_the_real_kernel(monkeypatch, no_fd_leak):
    monkeypatch.setattr(programs, "LOG_SIZE_START", 32)
    sizes: list[int] = []

    class Spy(Kernel):
        def bpf(self, cmd, attr, size):
            if cmd == 5:  # BPF_PROG_LOAD
                sizes.append(attr.log_size)
            return super().bpf(cmd, attr, size)

    a, bad = uninitialised_read()
    with use_kernel(Spy()), pytest.raises(VerifierError) as info:
        ProgramSpec("bad", ProgramType.SOCKET_FILTER, a).load()
    assert sizes[0] == 0 and sizes[1] == 32 and len(sizes) >= 3
    assert "R2 !read_ok" in info.value.log
    assert info.value.insn_index == bad


def test_log_level_keeps_the_log_of_a_good_program(no_fd_leak):
    with ProgramSpec("logged", ProgramType.SOCKET_FILTER, returns(0)).load(log_level=2) as p:
        assert "processed" in p.verifier_log


def test_unknown_program_type_is_einval(no_fd_leak):
    with pytest.raises(BPFError) as info:
        ProgramSpec("nope", 4000, returns(0)).load()
    assert info.value.errno == errno.EINVAL
    assert "program type" in str(info.value)


def test_test_run_of_a_type_without_it_raises(no_fd_leak):
    with ProgramSpec("pe", ProgramType.PERF_EVENT, returns(0)).load() as prog:
        with pytest.raises(BPFError) as info:
            prog.test_run(ctx_in=bytes(64))
    assert info.value.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524)


def test_expected_attach_type_is_passed_at_load(no_fd_leak):
    # cgroup connect hooks must name their attach type at load time; without it: EINVAL.
    spec = ProgramSpec(
        "connect4",
        ProgramType.CGROUP_SOCK_ADDR,
        returns(1),
        expected_attach_type=AttachType.CGROUP_INET4_CONNECT,
    )
    with spec.load() as prog:
        assert prog.info().type == ProgramType.CGROUP_SOCK_ADDR
    with pytest.raises(BPFError) as info:
        ProgramSpec("connect4", ProgramType.CGROUP_SOCK_ADDR, returns(1)).load()
    assert info.value.errno == errno.EINVAL


def test_a_good_program_with_a_too_small_log_loads_after_growing_it(monkeypatch, no_fd_leak):
    monkeypatch.setattr(programs, "LOG_SIZE_START", 16)
    with ProgramSpec("grown", ProgramType.SOCKET_FILTER, returns(0)).load(log_level=2) as p:
        assert p.verifier_log.rstrip().splitlines()[-1].startswith("processed")
        assert len(p.verifier_log) > 16
