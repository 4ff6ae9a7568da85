"""Our profiler's overhead beside ``perf record`` (and bpftrace), the same workload, one sitting.

The workload is the call-tree C program (tests/profiler/workloads/calltree.c), which reports its
own progress: built ``-O2 -fno-omit-frame-pointer`` (``fp``), and ``-O2 -fomit-frame-pointer``
(``nofp``, for the DWARF path). Each configuration runs it by pid (one copy, ``--pid`` / ``-p``)
and over the whole machine (one copy per CPU, so every CPU is busy and sampled), at 99 and
997 Hz, for ``BENCH_SECONDS`` (20) seconds per run:

- ``fp``: the workload alone (baseline), ours (default ``--unwind auto``), ``perf record -g -e
  cpu-clock`` (+ ``perf script``), and bpftrace ``profile:hz:N`` counting ``kstack``/``ustack``
  when it is installed;
- ``nofp``: the baseline, ours (auto), ours ``--unwind dwarf``, and ``perf record --call-graph
  dwarf -e cpu-clock`` (+ ``perf script``).

For each tool it prints launch → sampling, total CPU of the run including writing a readable
profile (ours: pprof; perf: + ``perf script``), steady CPU between 25 % and 75 % of the run
(% of one core), peak RSS, BPF ns per sample (BPF tools), the workload's slowdown against the
baseline, and ours over the peers as ratios; at the end, which of issue 12's targets the run
met. How each figure is taken: ``bench/overhead_run.py``; the ready signals:
``bench/overhead_tools.py``. The bench asserts only that each tool ran, signalled that it was
sampling, and wrote a profile with samples of the workload; the targets are printed, not
asserted (they are what we work towards).

Run it as root (about 12 minutes; on a shared machine the figures move with the other load):

    sudo python -m pytest bench/test_bench_overhead.py -s -p no:cacheprovider

    BENCH_QUICK=1 ...            5 s, one configuration (fp-pid-99): checks the bench itself
    BENCH_SECONDS=10 ...         another length per run
    BENCH_CONFIGS=fp-pid-997,nofp-all-997 ...   only these configurations
    ... --benchmark-json=overhead.json          every figure, as pytest-benchmark's extra_info

Needs perf (Debian ``linux-perf``), GNU time (``/usr/bin/time``) and gcc; bpftrace (Debian
``bpftrace``) is optional. BPF run-time stats are switched on for the module through a held
``BPF_ENABLE_STATS`` fd (closed at the end: the sysctl is left as it was).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest

from tests.profiler import workloads
from tests.support import require_root, require_tool

from . import overhead_tools
from .overhead_report import Config, ConfigResult, config_table, targets_summary
from .overhead_run import GNU_TIME, Tool, run_alone, run_beside

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SECONDS = float(os.environ.get("BENCH_SECONDS", "5" if QUICK else "20"))
ALL_CONFIGS = [
    Config(frame_pointers, by_pid, freq)
    for frame_pointers in (True, False)
    for by_pid in (True, False)
    for freq in (99, 997)
]
_CHOSEN = os.environ.get("BENCH_CONFIGS", "fp-pid-99" if QUICK else "")
CONFIGS = [c for c in ALL_CONFIGS if not _CHOSEN or c.id in _CHOSEN.split(",")]


@pytest.fixture(scope="module")
def bpf_stats():
    """BPF run-time stats on while the module runs (``run_time_ns``/``run_cnt`` in fdinfo)."""
    require_root()
    from pybpf.bpf_commands import enable_stats

    fd = enable_stats()
    yield
    os.close(fd)


@pytest.fixture(scope="module")
def collected():
    """The configurations' results; the summary of issue 12's targets is printed at the end."""
    results: list[ConfigResult] = []
    yield results
    if results:
        print("\n" + targets_summary(results))


def _tools(config: Config, workdir: str) -> list[Tool]:
    def place(name: str) -> str:
        path = os.path.join(workdir, name)
        os.mkdir(path)
        return path

    tools = []
    tools.append(
        overhead_tools.ours(
            "ours", config.freq, os.path.join(place("ours"), "p.pb.gz"), config.by_pid
        )
    )
    if not config.frame_pointers:
        tools.append(
            overhead_tools.ours(
                "ours --unwind dwarf",
                config.freq,
                os.path.join(place("ours-dwarf"), "p.pb.gz"),
                config.by_pid,
                "--unwind",
                "dwarf",
            )
        )
    perf = overhead_tools.perf(
        config.freq, place("perf"), config.by_pid, dwarf=not config.frame_pointers
    )
    assert perf is not None  # required above
    tools.append(perf)
    if config.frame_pointers:
        bpftrace = overhead_tools.bpftrace(config.freq, place("bpftrace"), config.by_pid)
        if bpftrace is not None:
            tools.append(bpftrace)
    return tools


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_overhead_beside_perf(benchmark, bpf_stats, collected, tmp_path, config):
    require_tool("gcc")
    require_tool("perf")
    if not os.path.exists(GNU_TIME):
        require_tool("time")  # GNU time gives the honest peak RSS (see bench/peers.py)
    pointers = "-fno-omit-frame-pointer" if config.frame_pointers else "-fomit-frame-pointer"
    binary = workloads.build("calltree", "-O2", pointers)
    copies = 1 if config.by_pid else os.cpu_count() or 1
    tools = _tools(config, str(tmp_path))
    result = ConfigResult(config, SECONDS, baseline=None)  # type: ignore[arg-type]

    def run_all():
        result.baseline = run_alone(binary, SECONDS, copies)
        for tool in tools:
            result.runs[tool.name] = run_beside(tool, binary, SECONDS, copies)

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    if config.frame_pointers:
        pairs = [("ours", "perf -g"), ("ours", "bpftrace")]
    else:
        pairs = [("ours --unwind dwarf", "perf dwarf"), ("ours", "perf dwarf")]
    print("\n" + config_table(result, pairs))
    collected.append(result)
    benchmark.extra_info["seconds"] = SECONDS
    benchmark.extra_info["baseline"] = asdict(result.baseline)
    for name, run in result.runs.items():
        benchmark.extra_info[name] = {**asdict(run), "total_cpu_s": run.total_cpu_s}

    failures = []
    for run in result.runs.values():
        if run.launch_s is None:
            failures.append(f"{run.name} never signalled that it was sampling")
        if not run.ended_well:
            failures.append(
                f"{run.name} failed: exit {run.returncode}, post exit {run.post_returncode}"
            )
        if run.samples <= 0:
            failures.append(f"{run.name} wrote no sample of the workload")
    assert not failures, "; ".join(failures)
