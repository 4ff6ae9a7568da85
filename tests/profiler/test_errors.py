"""Error paths of the profiler: missing privileges, failures half-way through start, no leaks."""

from __future__ import annotations

import argparse
import errno
import os

import pytest

from profiler.bpf.options import SamplingOptions
from profiler.bpf.sampler import Sampler
from profiler.cli import profile_command as cli
from profiler.cli.signals import StopOnSignals
from pybpf import syscall
from pybpf.errors import MissingPrivilegesError
from tests.conftest import bpf_objects_held_by

BPF_PROG_LOAD = 5


class RefusingKernel(syscall.Kernel):
    """The real kernel, except that it refuses one bpf command or perf_event_open."""

    def __init__(self, bpf_cmd: int | None = None, perf: bool = False, err: int = errno.EPERM):
        self.bpf_cmd, self.perf, self.err = bpf_cmd, perf, err

    def bpf(self, cmd, attr, size):
        if cmd == self.bpf_cmd:
            raise OSError(self.err, os.strerror(self.err))
        return super().bpf(cmd, attr, size)

    def perf_event_open(self, attr, pid, cpu, group_fd, flags):
        if self.perf:
            raise OSError(self.err, os.strerror(self.err))
        return super().perf_event_open(attr, pid, cpu, group_fd, flags)


@pytest.mark.bpf
@pytest.mark.parametrize("unwind", ["fp", "auto"])
def test_program_load_refused_closes_the_maps_and_names_capabilities(no_fd_leak, unwind):
    with syscall.use_kernel(RefusingKernel(bpf_cmd=BPF_PROG_LOAD)):
        with pytest.raises(MissingPrivilegesError) as info:
            Sampler(SamplingOptions(freq=99, unwind=unwind))
    message = str(info.value)
    assert "CAP_BPF" in message and "CAP_PERFMON" in message
    assert bpf_objects_held_by(os.getpid()) == []


@pytest.mark.bpf
def test_perf_event_refused_detaches_and_closes_everything(no_fd_leak):
    with syscall.use_kernel(RefusingKernel(perf=True, err=errno.EACCES)):
        with pytest.raises(MissingPrivilegesError) as info:
            Sampler(SamplingOptions(freq=99))
    assert "perf_event_paranoid" in str(info.value)
    assert bpf_objects_held_by(os.getpid()) == []


@pytest.mark.bpf
def test_cli_prints_one_clear_message_without_privileges(capsys, tmp_path):
    args = cli.build_parser().parse_args(["--duration", "1", "-o", str(tmp_path / "x.pb.gz")])
    assert isinstance(args, argparse.Namespace)
    with syscall.use_kernel(RefusingKernel(bpf_cmd=BPF_PROG_LOAD)):
        rc = cli.run(args, StopOnSignals())
    err = capsys.readouterr().err
    assert rc == 1
    assert "CAP_BPF" in err and "CAP_PERFMON" in err
    assert len([line for line in err.splitlines() if line.startswith("profiler:")]) == 1
    assert os.listdir(tmp_path) == []  # neither the profile nor its temp file
    assert bpf_objects_held_by(os.getpid()) == []
