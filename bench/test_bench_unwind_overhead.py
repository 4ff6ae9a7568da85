"""DWARF unwinding overhead beside ``perf record --call-graph dwarf``, in the same run.

The workload is the call-tree C program built with ``-O2 -fomit-frame-pointer`` (frame-pointer
unwinding gives near nothing on it). For 99 Hz and 997 Hz it runs ``BENCH_SECONDS`` (default 10)
three times: alone (the baseline), under our profiler (``--pid P --unwind dwarf``) and under
``perf record -e cpu-clock --call-graph dwarf -p P`` (+ ``perf script`` to get the stacks, which
perf needs and we do not). Prints each profiler's CPU and peak RSS and the workload's slowdown
(loop iterations lost against the baseline), and the ratios.

    sudo python -m pytest bench/test_bench_unwind_overhead.py -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.profiler import workloads
from tests.support import require_root, require_tool

from .peers import RunCost, TimedChild, holds_bpf_program

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))


def _run_workload(binary: str, profiler_argv: list[str] | None, ready) -> tuple[dict, RunCost]:
    """Run the workload (waiting), start the profiler, let the workload go once it is ready."""
    work = workloads.start(binary, str(SECONDS), wait=True)
    cost = None
    try:
        if profiler_argv is None:
            work.go()
            return work.result(timeout=SECONDS + 60), None
        argv = [a.replace("{pid}", str(work.pid)) for a in profiler_argv]
        start = time.monotonic()
        child = TimedChild(argv)
        ready(child)
        ready_s = time.monotonic() - start
        work.go()
        truth = work.result(timeout=SECONDS + 60)
        child.send_signal(2)  # SIGINT: both profilers write what they have and exit
        code, cpu, rss = child.wait()
        cost = RunCost(os.path.basename(argv[0]), time.monotonic() - start, cpu, rss, ready_s, code)
        return truth, cost
    finally:
        work.kill()


def _wait_bpf(child: TimedChild) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = child.pid
        if pid is not None and holds_bpf_program(pid):
            return
        time.sleep(0.01)


def _wait_perf(child: TimedChild) -> None:
    time.sleep(1.0)  # perf has no ready signal; it starts recording within ~0.15 s here


@pytest.mark.parametrize("freq", [99, 997])
def test_dwarf_unwinding_overhead_beside_perf(benchmark, tmp_path, freq):
    require_root()
    require_tool("gcc")
    perf = require_tool("perf")
    binary = workloads.build("calltree", "-O2", "-fomit-frame-pointer")
    out = {}

    def run_all():
        out["base"], _ = _run_workload(binary, None, None)
        ours = [
            sys.executable,
            "-m",
            "profiler",
            "--pid",
            "{pid}",
            "--freq",
            str(freq),
            "--unwind",
            "dwarf",
            "-o",
            str(tmp_path / "p.pb.gz"),
            "-q",
        ]
        out["ours"] = _run_workload(binary, ours, _wait_bpf)
        data = str(tmp_path / "perf.data")
        perf_argv = [
            perf,
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-F",
            str(freq),
            "--call-graph",
            "dwarf",
            "-p",
            "{pid}",
            "-o",
            data,
        ]
        out["perf"] = _run_workload(binary, perf_argv, _wait_perf)
        before = os.times()
        subprocess.run(
            [perf, "script", "-i", data],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        after = os.times()
        out["perf_script_cpu"] = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        out["perf_data_mb"] = os.path.getsize(data) / 1e6

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    base = out["base"]["iterations"]
    (ours_truth, ours), (perf_truth, perf_cost) = out["ours"], out["perf"]
    slow_ours = 1 - ours_truth["iterations"] / base
    slow_perf = 1 - perf_truth["iterations"] / base
    perf_total = perf_cost.cpu_s + out["perf_script_cpu"]
    print(f"\n{freq} Hz, {SECONDS:g} s, -fomit-frame-pointer workload (baseline {base} loops)")
    print(
        f"  pureprof --unwind dwarf : cpu {ours.cpu_s:6.2f} s ({100 * ours.cpu_s / SECONDS:5.2f} "
        f"% of a core)  peak RSS {ours.max_rss_mb:6.1f} MB  workload slowdown "
        f"{100 * slow_ours:5.1f} %"
    )
    print(
        f"  perf --call-graph dwarf : record cpu {perf_cost.cpu_s:6.2f} s + script "
        f"{out['perf_script_cpu']:.2f} s ({100 * perf_total / SECONDS:5.2f} % of a core)  "
        f"peak RSS {perf_cost.max_rss_mb:6.1f} MB  workload slowdown {100 * slow_perf:5.1f} %  "
        f"perf.data {out['perf_data_mb']:.1f} MB"
    )
    print(
        f"  ratio ours/perf: cpu {ours.cpu_s / max(perf_total, 1e-9):.2f}x, "
        f"peak RSS {ours.max_rss_mb / max(perf_cost.max_rss_mb, 1e-9):.2f}x"
    )
    benchmark.extra_info.update(
        ours_cpu_s=ours.cpu_s,
        perf_cpu_s=perf_total,
        ours_rss_mb=ours.max_rss_mb,
        perf_rss_mb=perf_cost.max_rss_mb,
        slowdown_ours=slow_ours,
        slowdown_perf=slow_perf,
    )
    assert ours.returncode == 0
