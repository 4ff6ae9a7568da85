"""The profiler's own cost beside BCC's ``profile-bpfcc``, measured in the same run.

Whole machine, both CPUs kept busy by the call-tree workload, ``BENCH_SECONDS`` (default 20) per
run, at 99 Hz and 997 Hz. Prints CPU (% of one core), peak RSS and time to ready for each, and
the ratios. Needs root; BCC needs kernel headers (see README: Benchmarks).

    sudo python -m pytest bench/test_bench_profiler.py -s -p no:cacheprovider

Also: the drain of a full counts map (10 240 keys), timed with pytest-benchmark.
"""

from __future__ import annotations

import os
import struct

import pytest

from tests.support import require_root

from .peers import bcc_profile, build_workload, busy_workloads, measure, ours

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    require_root()
    return build_workload(str(tmp_path_factory.mktemp("bench")))


@pytest.mark.parametrize("freq", [99, 997])
def test_agent_cost_beside_bcc(benchmark, workload, tmp_path, freq):
    ncpu = os.cpu_count() or 1
    results = {}

    def run_all():
        loads = busy_workloads(workload, SECONDS + 15, ncpu)
        try:
            results["ours"] = measure(
                f"pureprof {freq} Hz", ours(freq, SECONDS, str(tmp_path / "p.pb.gz"))
            )
            bcc = bcc_profile(freq, SECONDS)
            if bcc is not None:
                results["bcc"] = measure(f"BCC profile-bpfcc {freq} Hz", bcc)
        finally:
            for p in loads:
                p.kill()
                p.wait()

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    ours_cost = results["ours"]
    assert ours_cost.returncode == 0
    print()
    print(ours_cost.row(SECONDS))
    benchmark.extra_info["ours"] = vars(ours_cost)
    bcc_cost = results.get("bcc")
    if bcc_cost is None or bcc_cost.returncode != 0:
        print("BCC profile-bpfcc: not available (install bpfcc-tools and kernel headers)")
        return
    print(bcc_cost.row(SECONDS))
    benchmark.extra_info["bcc"] = vars(bcc_cost)
    print(
        f"ratio ours/BCC: cpu {ours_cost.cpu_s / max(bcc_cost.cpu_s, 1e-9):.2f}x, "
        f"peak RSS {ours_cost.max_rss_mb / bcc_cost.max_rss_mb:.2f}x, "
        f"ready {ours_cost.ready_s / max(bcc_cost.ready_s, 1e-9):.2f}x"
    )


def test_drain_of_a_full_counts_map(benchmark):
    require_root()
    from profiler.bpf import sampler_program as sp
    from profiler.bpf.layouts import SampleKey
    from profiler.bpf.options import SamplingOptions
    from profiler.bpf.sampler import Sampler

    # The sampler is live (1 Hz): leave room for its own few keys beside the 10 240 we add.
    sampler = Sampler(
        SamplingOptions(freq=1, counts_map_size=10240 + 512, stack_map_size=1024, unwind="fp")
    )
    try:
        keys = [
            SampleKey.pack(SampleKey(100 + i, 100 + i, -1, -1, b"bench", (-1,) * 4))
            for i in range(10240)
        ]
        one = struct.pack("<Q", 1)

        def fill():
            # Fill the set that the next drain reads (the active one).
            counts = sampler.counts[sampler._active]
            for key in keys:
                counts.update(key, one)
            return (), {}

        drained = benchmark.pedantic(sampler.drain, setup=fill, rounds=5, iterations=1)
        assert len(drained) >= 10240
        assert sp.KEY_SIZE == len(keys[0])
        per_entry = benchmark.stats.stats.mean / 10240 * 1e6
        print(
            f"\ndrain of 10 240 keys: {benchmark.stats.stats.mean * 1e3:.1f} ms "
            f"({per_entry:.2f} µs per key)"
        )
    finally:
        sampler.close()
