"""Draining a 10 000-entry hash map: iterate (get_next_key + lookup + delete) vs batch.

Run (root): python -m pytest bench/test_bench_maps.py -p no:cacheprovider
Both ways are measured in the same run; the ratio is printed.
"""

from __future__ import annotations

import pytest

from pybpf.maps import MapSpec, MapType
from tests.support import require_root

N = 10_000
ROUNDS = 7
medians: dict[str, float] = {}


@pytest.fixture(scope="module")
def counts():
    require_root()
    with MapSpec("bench_drain", MapType.HASH, 8, 8, N).create() as m:
        yield m


def fill(m) -> None:
    for k in range(N):
        m.update(k, k)


def drain_by_iteration(m) -> list:
    drained = []
    for key in m.raw_keys():
        value = m.lookup(key)
        m.delete(key)
        drained.append((key, value))
    return drained


def drain_by_batch(m) -> list:
    return m.lookup_and_delete_batch()


def run(benchmark, counts, name, drain) -> None:
    def checked():
        drained = drain(counts)
        assert len(drained) == N
        assert list(counts.keys()) == []

    benchmark.pedantic(checked, setup=lambda: fill(counts), rounds=ROUNDS, iterations=1)
    medians[name] = benchmark.stats.stats.median


def test_drain_by_iteration(benchmark, counts):
    run(benchmark, counts, "iterate", drain_by_iteration)


def test_drain_by_batch(benchmark, counts, capsys):
    run(benchmark, counts, "batch", drain_by_batch)
    if "iterate" not in medians:  # run alone: measure the peer now, in this same run
        import time

        times = []
        for _ in range(ROUNDS):
            fill(counts)
            start = time.perf_counter()
            drain_by_iteration(counts)
            times.append(time.perf_counter() - start)
        medians["iterate"] = sorted(times)[len(times) // 2]
    ratio = medians["iterate"] / medians["batch"]
    benchmark.extra_info["iterate_over_batch"] = ratio
    with capsys.disabled():
        print(
            f"\ndrain {N} entries: iterate {medians['iterate'] * 1e3:.1f} ms, "
            f"batch {medians['batch'] * 1e3:.1f} ms (median of {ROUNDS}): "
            f"batch is {ratio:.1f}x faster"
        )
