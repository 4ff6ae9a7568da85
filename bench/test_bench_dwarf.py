"""DWARF lookups on the Tokio test program (release, debug = true) against binutils' addr2line.

Measured in one run, with the same addresses for both (every 11th byte of the functions whose
symbol mentions tokio, up to ADDRESSES of them):

- index build: ``DwarfInfo.for_elf`` + ``build_index()`` (every unit walked, every line table
  decoded) against ``addr2line -i -f`` over all the addresses (one process: its own index + the
  lookups);
- cold lookup: a fresh ``DwarfInfo`` and one address (opening + the one unit it needs), in the
  app's own unit and in tokio's big unit, against one ``addr2line`` process for that address;
- warm lookup: a new address in an already indexed unit (memo cleared) against addr2line's
  marginal cost per address (time for 2N addresses minus time for N, divided by N);
- cached lookup: an address asked again (memoised).

Run: ``python -m pytest bench/test_bench_dwarf.py -s -p no:cacheprovider``
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from elftools.elf.elffile import ELFFile

from profiler.symbolize import dwarf
from profiler.symbolize.dwarf import DwarfInfo
from tests.dwarf_async.builds import build_tokio_app
from tests.support import skip_or_fail

ADDRESSES = 4000


@pytest.fixture(scope="module")
def binary() -> str:
    return build_tokio_app("legacy")


@pytest.fixture(scope="module")
def addresses(binary) -> list[int]:
    with open(binary, "rb") as stream:
        symtab = ELFFile(stream).get_section_by_name(".symtab")
        spans = sorted(
            (s["st_value"], s["st_size"])
            for s in symtab.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] and "tokio" in s.name
        )
    found = sorted({a for start, size in spans for a in range(start, start + size, 11)})
    step = max(1, len(found) // ADDRESSES)
    return found[::step][:ADDRESSES]


def _addr2line_seconds(binary: str, addresses: list[int]) -> float:
    tool = shutil.which("addr2line")
    if tool is None:
        skip_or_fail("needs binutils' addr2line as the peer")
    text = "".join(f"{a:#x}\n" for a in addresses)
    started = time.perf_counter()
    subprocess.run(
        [tool, "-i", "-f", "-e", binary], input=text, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _fresh(binary: str) -> DwarfInfo:
    dwarf.clear_cache()
    info = DwarfInfo.for_elf(binary)
    assert info is not None
    return info


def test_index_build(benchmark, binary, addresses):
    dies = []

    def build():
        dies.append(_fresh(binary).build_index())

    benchmark.pedantic(build, rounds=2, iterations=1)
    ours = benchmark.stats.stats.min
    peer = _best(lambda: _addr2line_seconds(binary, addresses))
    print(
        f"\nindex build: ours {ours:.2f} s for {dies[-1]} DIEs; addr2line -i -f over "
        f"{len(addresses)} addresses {peer:.3f} s; ratio ours/addr2line {ours / peer:.1f}x"
    )


@pytest.mark.parametrize("where", ["app unit", "tokio unit"])
def test_cold_lookup(benchmark, binary, addresses, where):
    if where == "app unit":
        info = _fresh(binary)
        address = next(a for a in addresses if "tokio_app::" in info.frames(a)[-1].qualified_name)
    else:
        info = _fresh(binary)
        sizes = {}
        for a in addresses:
            offset = info._unit_at(a)
            sizes.setdefault(offset, a)
        address = sizes[max(sizes, key=lambda off: info._cus[off].size)]

    def lookup():
        _fresh(binary).frames(address)

    benchmark.pedantic(lookup, rounds=3, iterations=1)
    ours = benchmark.stats.stats.min
    peer = _best(lambda: _addr2line_seconds(binary, [address]))
    print(
        f"\ncold lookup ({where}): ours {ours * 1e3:.1f} ms, one addr2line process "
        f"{peer * 1e3:.1f} ms; ratio {ours / peer:.1f}x"
    )


def test_warm_lookup(benchmark, binary, addresses):
    info = _fresh(binary)
    info.build_index()

    def lookups():
        info.clear_memo()
        for a in addresses:
            info.frames(a)

    benchmark.pedantic(lookups, rounds=3, iterations=1)
    ours = benchmark.stats.stats.min / len(addresses)
    half = addresses[: len(addresses) // 2]
    peer = (
        _best(lambda: _addr2line_seconds(binary, addresses))
        - _best(lambda: _addr2line_seconds(binary, half))
    ) / (len(addresses) - len(half))
    print(
        f"\nwarm lookup (indexed unit, new address): ours {ours * 1e6:.1f} us, addr2line "
        f"marginal {peer * 1e6:.1f} us per address; ratio {ours / max(peer, 1e-9):.1f}x"
    )


def test_cached_lookup(benchmark, binary, addresses):
    info = _fresh(binary)
    for a in addresses:
        info.frames(a)

    def lookups():
        for a in addresses:
            info.frames(a)

    benchmark.pedantic(lookups, rounds=5, iterations=1)
    ours = benchmark.stats.stats.min / len(addresses)
    print(f"\ncached lookup: ours {ours * 1e6:.2f} us per address (memo hit)")
