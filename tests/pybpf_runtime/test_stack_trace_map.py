"""A STACK_TRACE map filled by bpf_get_stackid in the kernel, read back with Map.stack_trace."""

from __future__ import annotations

import bisect

import pytest

from pybpf.asm import DW, R0, R1, R2, R3, Assembler
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

pytestmark = pytest.mark.bpf


def kernel_symbolizer():
    """Address -> the /proc/kallsyms symbol containing it (the oracle for the frames)."""
    table = []
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _kind, name = line.split()[:3]
            table.append((int(addr, 16), name))
    table.sort()
    starts = [a for a, _ in table]

    def name_of(addr: int) -> str:
        i = bisect.bisect_right(starts, addr) - 1
        return table[i][1] if i >= 0 else "?"

    return name_of


def test_get_stackid_fills_the_map_and_stack_trace_reads_it(no_fd_leak):
    depth = 32
    stacks_spec = MapSpec("stacks", MapType.STACK_TRACE, 4, 8 * depth, 16)
    with stacks_spec.create() as stacks, MapSpec("out", MapType.ARRAY, 4, 8, 1).create() as out:
        a = Assembler()
        a.ld_map_fd(R2, stacks)
        a.mov(R3, 0, comment="flags 0: the kernel stack")
        a.call("get_stackid", comment="r1 is still the context")
        a.ld_map_value(R1, out, 0)
        a.stx(DW, R1, 0, R0, comment="out[0] = stack id")
        a.ret(0)
        # A raw tracepoint program's test run executes inside bpf(BPF_PROG_TEST_RUN): its kernel
        # stack is that system call's path.
        with ProgramSpec("stackid", ProgramType.RAW_TRACEPOINT, a).load() as prog:
            prog.test_run(ctx_in=bytes(8))
            with pytest.raises(ValueError, match="cannot repeat"):
                prog.test_run(ctx_in=bytes(8), repeat=5)
        stack_id = int.from_bytes(out[0], "little", signed=True)
        assert stack_id >= 0, f"bpf_get_stackid failed with {stack_id}"
        frames = stacks.stack_trace(stack_id)
        assert stacks.stack_trace(stack_id + 1) is None
    assert frames and 0 not in frames and len(frames) <= depth
    name_of = kernel_symbolizer()
    names = [name_of(addr) for addr in frames]
    # Innermost first: the test-run code calls the program, and the bpf system call is outside.
    assert names.index("bpf_prog_test_run_raw_tp") < names.index("__sys_bpf"), names
