"""examples/count_samples.py: samples counted per CPU by a DSL-built program on cpu-clock."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.perf_event import online_cpus
from pybpf.syscall import use_kernel

from .kernels import RecordingKernel, always

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "count_samples.py"


@contextlib.contextmanager
def every_cpu_busy():
    """One spinning process per online CPU for the duration of the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in online_cpus()]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def run_example(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def assert_close_to_expected(result: dict, freq: int, seconds: float) -> None:
    cpus = len(online_cpus())
    expected = freq * seconds * cpus
    assert result["freq"] == freq and result["seconds"] == seconds and result["cpus"] == cpus
    assert len(result["per_cpu"]) == cpus and sum(result["per_cpu"]) == result["total"]
    assert abs(result["total"] - expected) <= 0.15 * expected, (result, expected)


@pytest.mark.bpf
@pytest.mark.slow
def test_99_hz_for_3_seconds_on_every_cpu():
    with every_cpu_busy():
        result = run_example("--freq", "99", "--seconds", "3")
    assert_close_to_expected(result, 99, 3.0)
    assert all(n > 0 for n in result["per_cpu"])


@pytest.mark.bpf
@pytest.mark.parametrize("method", ["link", "ioctl"])
def test_both_attach_methods_count(method):
    with every_cpu_busy():
        result = run_example("--freq", "997", "--seconds", "0.5", "--attach", method)
    assert_close_to_expected(result, 997, 0.5)


def _load_example():
    spec = importlib.util.spec_from_file_location("count_samples_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bpf
def test_missing_privileges_exit_2_and_everything_closed(no_fd_leak, capsys):
    example = _load_example()
    fake = RecordingKernel(always(errno.EACCES))
    with use_kernel(fake):
        assert example.main(["--freq", "99", "--seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert "CAP_PERFMON" in err and "kernel.perf_event_paranoid" in err
    assert fake.perf_event_open_calls == 1
