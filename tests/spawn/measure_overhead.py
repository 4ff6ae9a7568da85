"""Measure what spawn tracking costs (run as root: ``python -m tests.spawn.measure_overhead``).

1. On the Tokio test program: how often the probes fire (spawns/s, polls/s) and how long the BPF
   programs run (``kernel.bpf_stats_enabled``: run_time_ns / run_cnt per program).
2. The whole cost of one probe hit, trap included (BPF stats time the program only): a C loop
   calls a function shaped like ``raw::poll`` (one pointer argument) and one shaped like
   ``tokio::spawn`` (returns a pointer), timed without and with the tracker's probes on them.

Prints a small table; asserts nothing (numbers, not a test).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static char tasks[64][256];
__attribute__((noinline)) void fake_poll(void *task) { __asm__ volatile("" :: "r"(task)); }
__attribute__((noinline)) void *fake_spawn(long i) { __asm__ volatile(""); return tasks[i & 63]; }
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    getchar();  /* wait until the probes are attached */
    double t0 = now();
    for (long i = 0; i < n; i++) fake_poll(tasks[i & 63]);
    double t1 = now();
    for (long i = 0; i < n; i++) fake_spawn(i);
    double t2 = now();
    printf("%.1f %.1f\n", (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9);
    return 0;
}
"""


@contextlib.contextmanager
def bpf_stats():
    path = Path("/proc/sys/kernel/bpf_stats_enabled")
    before = path.read_text().strip()
    path.write_text("1")
    try:
        yield
    finally:
        path.write_text(before)


def tokio_rates(seconds: float = 3.0) -> None:
    from profiler.bpf.spawn_tracker import SpawnTracker
    from tests.dwarf_async.builds import build_tokio_app

    binary = build_tokio_app("legacy_fp")
    app = subprocess.Popen([binary, str(int(seconds) + 3)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        with bpf_stats(), SpawnTracker(binary, [app.pid]) as tracker:
            time.sleep(seconds)
            stats = tracker.read_stats()
            costs = tracker.program_costs()
    finally:
        app.kill()
        app.wait()
    print(f"tokio_app (legacy_fp, 2 workers), {seconds:.0f} s, {tracker.probes} probes:")
    print(f"  spawns/s {stats['spawns'] / seconds:.0f}   polls/s {stats['polls'] / seconds:.0f}")
    busy_ns = 0
    for c in costs:
        busy_ns += c.run_time_ns
        print(f"  {c.name:14} runs/s {c.run_cnt / seconds:7.0f}   {c.ns_per_run:6.0f} ns/run (BPF)")
    print(f"  BPF time: {busy_ns / seconds / 1e9 * 100:.3f} % of one CPU")


def per_hit_cost(n: int = 200_000) -> None:
    from profiler.bpf.spawn_symbols import ProbePoint, ProbePoints
    from profiler.bpf.spawn_tracker import SpawnTracker
    from pybpf.uprobe import symbol_file_offset
    from tests.support import require_tool

    gcc = require_tool("gcc")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "loop.c", Path(tmp) / "loop"
        src.write_text(LOOP_C)
        subprocess.run([gcc, "-O2", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
        points = ProbePoints(
            str(exe),
            spawns=(ProbePoint("fake_spawn", 0, symbol_file_offset(exe, "fake_spawn")),),
            polls=(ProbePoint("fake_poll", 0, symbol_file_offset(exe, "fake_poll")),),
        )

        def run(probed: bool) -> tuple[float, float]:
            proc = subprocess.Popen(
                [exe, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            with contextlib.ExitStack() as stack:
                if probed:
                    stack.enter_context(SpawnTracker(exe, [proc.pid], points=points))
                out, _ = proc.communicate("\n")
            poll_ns, spawn_ns = map(float, out.split())
            return poll_ns, spawn_ns

        base = min(run(False) for _ in range(3))
        probed = min(run(True) for _ in range(3))
    print(f"per call, C loop of {n} calls (best of 3):")
    print(
        f"  poll  (uprobe + uretprobe): {base[0]:6.1f} -> {probed[0]:7.1f} ns "
        f"(+{probed[0] - base[0]:.0f} ns per poll)"
    )
    print(
        f"  spawn (uretprobe):          {base[1]:6.1f} -> {probed[1]:7.1f} ns "
        f"(+{probed[1] - base[1]:.0f} ns per spawn)"
    )


def main() -> int:
    tokio_rates()
    per_hit_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
