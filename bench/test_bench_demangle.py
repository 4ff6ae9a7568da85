"""Demangling a binary's worth of symbols with profiler.demangle, against GNU c++filt.

Run: python -m pytest bench/test_bench_demangle.py -p no:cacheprovider -s

The corpus is every C++ symbol of libstdc++.so.6 plus every v0 symbol of the Rust toolchain's
libstd (when rustup is installed): what a profiler meets when it symbolizes one process. Measured
in the same run:

- ours, cold: the cache cleared before each round, every symbol parsed and printed;
- ours, warm: symbols already in the cache (a profiler sees the same functions in every
  interval), as many as the cache holds;
- the peer: one ``c++filt`` process fed all symbols on stdin (its start-up included, which is how
  a Python agent would have to use it).

The per-symbol cost and the ratio to c++filt are printed, in wall time (pytest-benchmark's
medians) and in CPU time (one more cold pass each, ``process_time`` for us and the child's
``getrusage`` for c++filt), which stays meaningful when other work shares the machine.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time

import pytest

from profiler.demangle import CACHE_SIZE, clear_cache, demangle
from tests.demangle.oracles import elf_symbol_names, libstdcxx, rust_std_libraries
from tests.support import skip_or_fail

ROUNDS = 5
results: dict[str, float] = {}


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    path = libstdcxx()
    if path is None:
        skip_or_fail("no libstdc++.so.6 to take symbols from")
    symbols = [s for s in elf_symbol_names(path) if s.startswith("_Z")]
    for lib in rust_std_libraries()[:1]:
        symbols += [s for s in elf_symbol_names(lib) if s.startswith("_R")]
    return symbols


def _all(symbols: list[str]) -> list[str]:
    return [demangle(s) for s in symbols]


def test_ours_cold(benchmark, corpus):
    def run() -> list[str]:
        clear_cache()
        return _all(corpus)

    out = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    assert len(out) == len(corpus)
    results["cold"] = benchmark.stats.stats.median


def test_ours_warm(benchmark, corpus):
    cached = corpus[:CACHE_SIZE]
    _all(cached)
    out = benchmark.pedantic(_all, args=(cached,), rounds=ROUNDS, iterations=1)
    assert len(out) == len(cached)
    # Per symbol, like the others: scale to the whole corpus.
    results["warm"] = benchmark.stats.stats.median * len(corpus) / len(cached)


def test_cxxfilt_peer(benchmark, corpus):
    tool = shutil.which("c++filt")
    if tool is None:
        skip_or_fail("needs binutils' c++filt as the peer")
    data = "\n".join(corpus) + "\n"

    def run() -> int:
        out = subprocess.run([tool], input=data, capture_output=True, text=True, check=True)
        return out.stdout.count("\n")

    assert benchmark.pedantic(run, rounds=ROUNDS, iterations=1) == len(corpus)
    results["c++filt"] = benchmark.stats.stats.median
    results["c++filt_cpu"] = min(_cpu_of_cxxfilt(tool, data) for _ in range(ROUNDS))
    results["cold_cpu"] = min(_cpu_of_one_cold_pass(corpus) for _ in range(ROUNDS))
    _report(len(corpus))


def _report(n: int) -> None:
    if not {"cold", "warm", "c++filt"} <= results.keys():
        return
    peer = results["c++filt"]
    print(f"\ndemangling {n} symbols (libstdc++ C++ + Rust std v0), medians of {ROUNDS} rounds:")
    for name in ("cold", "warm"):
        t = results[name]
        print(
            f"  ours {name:<5} {t * 1e3:8.1f} ms  {t / n * 1e6:6.2f} us/symbol  "
            f"{t / peer:6.2f}x c++filt"
        )
    print(f"  c++filt    {peer * 1e3:8.1f} ms  {peer / n * 1e6:6.2f} us/symbol (one process)")
    ours_cpu, peer_cpu = results["cold_cpu"], results["c++filt_cpu"]
    print(
        f"  CPU time, cold: ours {ours_cpu / n * 1e6:.2f} us/symbol, c++filt "
        f"{peer_cpu / n * 1e6:.2f} us/symbol (ratio {ours_cpu / max(peer_cpu, 1e-9):.1f}x)"
    )


def _cpu_of_one_cold_pass(corpus: list[str]) -> float:
    clear_cache()
    started = time.process_time()
    _all(corpus)
    return time.process_time() - started


def _cpu_of_cxxfilt(tool: str, data: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([tool], input=data, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
