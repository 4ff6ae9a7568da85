"""Off-CPU profiling cost at a high switch rate, beside the peers, in the same run.

The workload: two threads ping-ponging a byte through pipes at ``BENCH_RATE`` (default 10 000)
round trips a second, paced in 1 ms slots: each round trip blocks both threads once, so the
workload itself switches out ~21 000 times a second. Each run gets its own copy of the workload
for ``BENCH_SECONDS`` (default 10): alone (the baseline), then under

- ours: ``python -m profiler --pid P --off-cpu`` (CPU samples at 99 Hz and off-CPU time);
- BCC's ``offcputime`` (the libbpf-tools build, Debian ``libbpf-tools``; ``offcputime-bpfcc``
  cannot run here: it hangs on a kprobe and this kernel has no kprobes);
- ``perf record -e sched:sched_switch -g -p P``: Debian's perf has no ``--off-cpu`` (it needs a
  perf built with BPF skeletons), so this is what perf offers for off-CPU stacks here.

Printed per tool: its CPU (seconds, % of a core over the workload's run), peak RSS, the
workload's slowdown (mean round-trip time and the workload's own CPU against the baseline), and
the BPF run time per event (``kernel.bpf_stats_enabled``: run_time_ns / run_cnt of the tool's
programs over the workload's run), with the ratios ours / peer.

Also: the three forms of ``sched_switch`` our program can hang on (classic, raw, BTF tracepoint),
ns per switch of two threads yielding to each other on one CPU; and what the minimum blocked
time costs and drops. Needs root.

    python -m pytest bench/test_bench_offcpu.py -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import pytest

from tests.conftest import bpf_objects_held_by
from tests.offcpu import workloads
from tests.profiler.workloads import start
from tests.support import require_root, require_tool

from .peers import RunCost, TimedChild

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
RATE = int(os.environ.get("BENCH_RATE", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


@pytest.fixture(scope="module")
def bins(tmp_path_factory) -> dict[str, str]:
    require_root()
    require_tool("gcc")
    out = str(tmp_path_factory.mktemp("bench-offcpu"))
    return {
        name: workloads.build(name, out, *workloads.FRAME_POINTERS)
        for name in ("pingpong", "yielder", "blocking", "napper")
    }


@pytest.fixture
def bpf_stats():
    """BPF run-time statistics on while the test runs (BPF_ENABLE_STATS holds them on)."""
    from pybpf import bpf_commands as cmds

    fd = cmds.enable_stats()
    yield
    os.close(fd)


def _prog_ids(pid: int) -> list[int]:
    ids = []
    for held in bpf_objects_held_by(pid):
        if held.startswith("prog id="):
            ids.append(int(held.split()[1].split("=")[1]))
    return ids


def _run_stats(ids: list[int]) -> tuple[int, int]:
    """Summed (run_time_ns, run_cnt) of BPF programs ``ids`` (from bpftool)."""
    total_ns = total_cnt = 0
    for prog_id in ids:
        out = subprocess.run(
            ["bpftool", "-j", "prog", "show", "id", str(prog_id)], capture_output=True, text=True
        )
        if out.returncode == 0:
            info = json.loads(out.stdout)
            total_ns += info.get("run_time_ns", 0)
            total_cnt += info.get("run_cnt", 0)
    return total_ns, total_cnt


def _wait_for(child: TimedChild, check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = child.pid
        if pid is not None and check(pid):
            time.sleep(0.3)  # attach follows the load
            return
        time.sleep(0.01)
    raise AssertionError(f"{child.proc.args} never got ready")


def _holds_perf_events(pid: int) -> bool:
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]"
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _run(binary: str, argv: list[str] | None, bpf: bool, rate: int = RATE) -> dict:
    """One run of the ping-pong (``rate`` round trips/s; 0: the napper, nearly idle), under
    ``argv`` (``{pid}`` replaced) or alone."""
    if rate:
        work = start(binary, str(SECONDS), str(rate), wait=True)
    else:
        work = start(binary, str(SECONDS), "100000", wait=True)
    try:
        if argv is None:
            work.go()
            return {"truth": work.result(timeout=SECONDS + 60)}
        argv = [a.replace("{pid}", str(work.pid)) for a in argv]
        started = time.monotonic()
        child = TimedChild(argv)
        _wait_for(child, (lambda pid: bool(_prog_ids(pid))) if bpf else _holds_perf_events)
        ready = time.monotonic() - started
        ids = _prog_ids(child.pid) if bpf else []
        before = _run_stats(ids)
        work.go()
        truth = work.result(timeout=SECONDS + 60)
        truth.setdefault("elapsed_s", truth.get("elapsed_ns", 0) / 1e9)
        after = _run_stats(ids)
        child.send_signal(2)  # SIGINT: each tool writes what it has and exits
        code, cpu, rss = child.wait()
        cost = RunCost(os.path.basename(argv[0]), time.monotonic() - started, cpu, rss, ready, code)
        runs = after[1] - before[1]
        return {
            "truth": truth,
            "cost": cost,
            "ns_per_event": (after[0] - before[0]) / runs if runs else 0.0,
            "events_per_s": runs / truth["elapsed_s"],
        }
    finally:
        work.kill()


def test_offcpu_cost_beside_peers(benchmark, tmp_path, bins, bpf_stats):
    offcputime = shutil.which("offcputime")
    perf = shutil.which("perf")
    tools = {
        "ours": [
            sys.executable,
            "-m",
            "profiler",
            "--pid",
            "{pid}",
            "--off-cpu",
            "-o",
            str(tmp_path / "p.pb.gz"),
            "-q",
        ]
    }
    if offcputime:
        tools["bcc offcputime"] = [offcputime, "-p", "{pid}"]
    if perf:
        data = str(tmp_path / "perf.data")
        tools["perf sched_switch -g"] = [
            perf,
            "record",
            "-q",
            "-e",
            "sched:sched_switch",
            "-g",
            "-p",
            "{pid}",
            "-o",
            data,
        ]
    out: dict[str, dict] = {}

    def run_all():
        out["baseline"] = _run(bins["pingpong"], None, False)
        for name, argv in tools.items():
            bpf = not name.startswith("perf")
            out[name] = _run(bins["pingpong"], argv, bpf)
            # The same tool on a thread that naps 100 ms at a time: its fixed cost.
            out[f"{name} idle"] = _run(bins["napper"], argv, bpf, rate=0)

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    base = out["baseline"]["truth"]
    print(
        f"\nping-pong {RATE} round trips/s for {SECONDS:g} s (shared 2-CPU VM); baseline: "
        f"{base['round_trips'] / base['elapsed_s']:.0f} round trips/s, mean round trip "
        f"{base['mean_round_trip_ns']:.0f} ns, workload cpu {base['cpu_s']:.2f} s"
    )
    for name in tools:
        r = out[name]
        t, c = r["truth"], r["cost"]
        line = (
            f"  {name:<22} cpu {c.cpu_s:6.2f} s ({100 * c.cpu_s / t['elapsed_s']:5.2f} % of a "
            f"core)  peak RSS {c.max_rss_mb:6.1f} MB  round trip {t['mean_round_trip_ns']:6.0f} "
            f"ns ({t['mean_round_trip_ns'] / base['mean_round_trip_ns']:.2f}x)  workload cpu "
            f"{t['cpu_s']:.2f} s ({t['cpu_s'] / base['cpu_s']:.2f}x)  [cpu on an idle target "
            f"{out[f'{name} idle']['cost'].cpu_s:.2f} s]"
        )
        if r["ns_per_event"]:
            line += f"  BPF {r['ns_per_event']:.0f} ns/event at {r['events_per_s']:.0f} events/s"
        print(line)
        benchmark.extra_info[name] = {**vars(c), **{k: v for k, v in r.items() if k != "cost"}}
    ours = out["ours"]
    for name in tools:
        if name == "ours":
            continue
        peer = out[name]
        ratio = ours["cost"].cpu_s / max(peer["cost"].cpu_s, 1e-9)
        slow = ours["truth"]["mean_round_trip_ns"] / peer["truth"]["mean_round_trip_ns"]
        text = f"  ratio ours/{name}: cpu {ratio:.2f}x, round trip {slow:.2f}x"
        if peer["ns_per_event"]:
            text += f", BPF ns/event {ours['ns_per_event'] / peer['ns_per_event']:.2f}x"
        print(text)
    assert ours["cost"].returncode == 0


def _yield_ns(binary: str, options: dict | None, hook_class=None) -> tuple[float, float]:
    """ns per switch of the yielder on CPU 1 (and our program's ns per run) under ``options``."""
    from bench.offcpu_hooks import run_stats
    from profiler.bpf.offcpu import OffCpuSampler
    from profiler.bpf.offcpu_options import OffCpuOptions
    from profiler.bpf.options import SamplingOptions

    work = start(binary, "1", "200000", wait=True)
    sampler = None
    try:
        if options is not None:
            pids = [work.pid] if options.pop("target", True) else [1]
            sampling = SamplingOptions(unwind="fp")
            for flag in ("user_stacks", "kernel_stacks"):
                if flag in options:
                    # SamplingOptions refuses a profile without stacks (a CPU profile would
                    # be empty); the program without stack walks is measured here only.
                    object.__setattr__(sampling, flag, options.pop(flag))
            sampler = (hook_class or OffCpuSampler)(OffCpuOptions(**options), sampling, pids=pids)
            before = run_stats(sampler.program)
        work.go()
        ns = work.result(timeout=60)["ns_per_switch"]
        prog = 0.0
        if sampler is not None:
            after = run_stats(sampler.program)
            prog = (after[0] - before[0]) / max(after[1] - before[1], 1)
        return ns, prog
    finally:
        if sampler is not None:
            sampler.close()
        work.kill()


def test_switch_hook_cost(benchmark, bins, bpf_stats):
    """Classic vs raw vs BTF tracepoint: a switch nobody targets, a targeted switch without
    stacks, and with user and kernel stacks (the default)."""
    from bench.offcpu_hooks import btf_sampler_class

    cases = {"no program": None}
    for hook in ("tracepoint", "raw_tp", "tp_btf"):
        cases[f"{hook} not a target"] = {"hook": hook, "target": False}
        cases[f"{hook} no stacks"] = {"hook": hook, "user_stacks": False, "kernel_stacks": False}
        cases[f"{hook} stacks"] = {"hook": hook}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}

    def run_all():
        for _ in range(REPEATS):
            for name, options in cases.items():
                hook_class = None
                if options and options.get("hook") == "tp_btf":
                    hook_class = btf_sampler_class()
                results[name].append(
                    _yield_ns(bins["yielder"], dict(options) if options else None, hook_class)
                )

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    base = statistics.median(ns for ns, _ in results["no program"])
    print(f"\nns per switch (median of {REPEATS}; yielder on CPU 1; shared VM), alone {base:.0f}")
    for name, runs in results.items():
        if name == "no program":
            continue
        ns = statistics.median(r[0] for r in runs)
        prog = statistics.median(r[1] for r in runs)
        print(f"  {name:<26} {ns:7.0f} ns/switch (+{ns - base:5.0f})  program {prog:5.0f} ns/run")
        benchmark.extra_info[name] = {"ns_per_switch": ns, "program_ns": prog}


def test_minimum_blocked_time(benchmark, bins, bpf_stats):
    """What --off-cpu-min costs and drops: ns per switch on the yielder, and the share of a
    whole machine's off-CPU time (with the ping-pong and the blocking workload running) that
    blocks shorter than the minimum hold."""
    from profiler.bpf.offcpu import OffCpuSampler
    from profiler.bpf.offcpu_options import OffCpuOptions
    from profiler.bpf.options import SamplingOptions

    minimums = (0, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
    cost: dict[int, list[float]] = {m: [] for m in minimums[:2] + minimums[-2:]}
    dropped: dict[int, tuple[float, float]] = {}

    def run_all():
        for _ in range(REPEATS):
            for m in cost:
                cost[m].append(_yield_ns(bins["yielder"], {"min_ns": m})[1])
        for m in minimums:
            load = [
                subprocess.Popen([bins["pingpong"], "3", str(RATE)], stdout=subprocess.DEVNULL),
                subprocess.Popen([bins["blocking"], "3"], stdout=subprocess.DEVNULL),
            ]
            with OffCpuSampler(OffCpuOptions(min_ns=m), SamplingOptions(unwind="fp")) as s:
                for p in load:
                    p.wait()
                st = s.read_stats()
            total = st.blocked_ns + st.below_min_ns
            dropped[m] = (100 * st.below_min_ns / max(total, 1), total / 1e9)

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    print("\n--off-cpu-min: program ns/run on the yielder (median), and off-CPU time dropped")
    for m in minimums:
        line = f"  {m / 1000:>8g} us: "
        if m in cost:
            line += f"program {statistics.median(cost[m]):5.0f} ns/run  "
        share, total = dropped[m]
        line += f"dropped {share:5.1f} % of {total:.1f} s (whole machine, 3 s)"
        print(line)
        benchmark.extra_info[str(m)] = {"dropped_percent": share}
