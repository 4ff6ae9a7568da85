"""Unwinding speed: per sample (warm and cold caches), table builds, and perf as the peer.

- warm: a 16-frame stack of the C workload (PIE + libc, no frame pointers) unwound again and
  again by one ``Unwinder`` (tables built, mapping memo filled): the steady state of a profiler
  that keeps its caches;
- cold: a fresh ``Unwinder`` per sample: lazy (the default: index ``.eh_frame_hdr``, parse only
  the FDEs the stack touches) and eager (parse the executable's and libc's whole CFI first);
- table builds: libc and the largest shared library on the machine (``libLLVM-*.so*`` when
  installed), against pyelftools parsing the same ``.eh_frame`` (``EH_CFI_entries()``: entries
  and instructions only; its ``get_decoded()`` raises on libc's ``DW_CFA_GNU_args_size``);
- perf: ``perf record --call-graph dwarf`` samples of the spinning workload, unwound by us
  (warm) against ``perf script`` printing the same samples' call chains (perf's own DWARF
  unwinder, with its ELF/DWARF loading), CPU time of each, in the same run;
- lazy first use of the largest library: index + 1000 functions parsed on first touch.

Run: ``python -m pytest bench/test_bench_unwind.py -s -p no:cacheprovider``
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
import subprocess
import time

import pytest
from elftools.elf.elffile import ELFFile

from profiler.process.maps import ProcessMaps
from profiler.unwind import TableCache, Unwinder, build_table_for_file
from profiler.unwind.elf_binary import read_elf_unwind_info
from profiler.unwind.lazy_table import LazyUnwindTable
from tests.support import skip_or_fail
from tests.unwind.perf_data import read_perf_data
from tests.unwind.snapshots import load_snapshot
from tests.unwind.workload_build import build_c, build_rust, take_snapshots

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench_unwind")
    exe = build_c(base, "omit_fp")
    snaps = take_snapshots(exe, base / "snaps")
    return exe, load_snapshot(snaps, "recursion"), base


def test_unwind_warm(benchmark, workload):
    _, snap, _ = workload
    mappings = snap.mappings
    unwinder = Unwinder()
    frames = len(unwinder.unwind(snap.regs, snap.stack, mappings).addrs)
    result = benchmark(unwinder.unwind, snap.regs, snap.stack, mappings)
    assert len(result.addrs) == frames and not result.truncated
    best = benchmark.stats.stats.min * 1e6
    median = benchmark.stats.stats.median * 1e6
    print(
        f"\nwarm unwind: {frames} frames, {best:.1f} µs/sample best "
        f"({best / frames:.2f} µs/frame), {median:.1f} µs median"
    )


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "eager"])
def test_unwind_cold(benchmark, workload, lazy):
    _, snap, _ = workload
    mappings = snap.mappings

    def cold():
        return Unwinder(cache=TableCache(lazy=lazy)).unwind(snap.regs, snap.stack, mappings)

    result = benchmark.pedantic(cold, rounds=5, iterations=1)
    assert not result.truncated
    how = "per-function tables" if lazy else "whole exe + libc tables"
    print(f"\ncold unwind ({how}): {benchmark.stats.stats.min * 1e3:.1f} ms")


def pyelftools_parse(path: str) -> int:
    with open(path, "rb") as stream:
        dwarf = ELFFile(stream).get_dwarf_info()
        return len(dwarf.EH_CFI_entries())


def peer_seconds(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def test_table_build_libc(benchmark):
    table = benchmark.pedantic(build_table_for_file, args=(LIBC,), rounds=5, iterations=1)
    ours = benchmark.stats.stats.min
    peer = peer_seconds(pyelftools_parse, LIBC)
    print(
        f"\nlibc table: {table.fde_count} FDEs, {len(table)} rows, ours {ours * 1e3:.0f} ms; "
        f"pyelftools EH_CFI_entries {peer * 1e3:.0f} ms; pyelftools/ours = {peer / ours:.1f}x"
    )


def largest_library() -> str:
    files = [
        p
        for p in glob.glob("/usr/lib/x86_64-linux-gnu/*.so*")
        if os.path.isfile(p) and not os.path.islink(p)
    ]
    return max(files, key=os.path.getsize)


@pytest.mark.slow
def test_table_build_big_binary(benchmark):
    path = largest_library()
    table = benchmark.pedantic(build_table_for_file, args=(path,), rounds=2, iterations=1)
    ours = benchmark.stats.stats.min
    peer = peer_seconds(pyelftools_parse, path, repeat=1)
    size_mb = os.path.getsize(path) / 1e6
    print(
        f"\n{os.path.basename(path)} ({size_mb:.0f} MB): {table.fde_count} FDEs, {len(table)} rows,"
        f" ours {ours:.2f} s; pyelftools EH_CFI_entries {peer:.2f} s; ratio {peer / ours:.1f}x"
    )


def test_lazy_table_big_binary(benchmark):
    """First use of a big library by a lazy table: read the ELF, index .eh_frame_hdr, then
    look up 1000 different functions (each parsed on first touch)."""
    path = largest_library()
    full_starts = None

    def first_use():
        nonlocal full_starts
        table = LazyUnwindTable.from_info(read_elf_unwind_info(path))
        if full_starts is None:
            step = max(1, table.fde_count // 1000)
            full_starts = [table._starts[i] + 1 for i in range(0, table.fde_count, step)][:1000]
        for vaddr in full_starts:
            table.lookup(vaddr)
        return table

    table = benchmark.pedantic(first_use, rounds=3, iterations=1)
    print(
        f"\n{os.path.basename(path)} lazy: {table.fde_count} FDEs indexed, 1000 functions "
        f"parsed on first touch: {benchmark.stats.stats.min * 1e3:.0f} ms in all"
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow
def test_against_perf_script(benchmark, workload):
    perf = shutil.which("perf")
    if perf is None or os.geteuid() != 0:
        skip_or_fail("needs perf and root to record --call-graph dwarf samples")
    exe, _, base = workload
    data = base / "perf.data"
    record = [perf, "record", "-q", "-e", "cpu-clock", "-F", "997", "--call-graph", "dwarf"]
    subprocess.run(
        [*record, "-o", str(data), "--", str(exe), "--spin", "1"], check=True, capture_output=True
    )
    recorded = read_perf_data(str(data))
    samples = [s for s in recorded.samples if s.regs]
    by_pid = {pid: ProcessMaps(maps) for pid, maps in recorded.mappings.items()}
    unwinder = Unwinder()

    def unwind_all():
        return [unwinder.unwind(s.x86_regs, s.stack, by_pid[s.pid]) for s in samples]

    cold_start = time.perf_counter()
    unwind_all()
    cold = time.perf_counter() - cold_start
    results = benchmark.pedantic(unwind_all, rounds=3, iterations=1)
    ours = benchmark.stats.stats.min
    frames = sum(len(r.addrs) for r in results)
    before = children_cpu()
    wall_start = time.perf_counter()
    subprocess.run([perf, "script", "-i", str(data), "-F", "ip"], check=True, capture_output=True)
    perf_wall = time.perf_counter() - wall_start
    perf_cpu = children_cpu() - before
    n = len(samples)
    print(
        f"\n{n} perf samples ({frames / n:.1f} frames avg): "
        f"ours warm {ours / n * 1e6:.1f} µs/sample ({ours:.3f} s), "
        f"ours first pass incl. table builds {cold:.3f} s; "
        f"perf script -F ip {perf_cpu:.3f} s CPU / {perf_wall:.3f} s wall "
        f"= {perf_cpu / n * 1e6:.1f} µs/sample; ours/perf (CPU) = {ours / perf_cpu:.2f}"
    )


def test_stack_bytes_needed(benchmark, tmp_path):
    """How much stack a complete walk needs (``UnwindResult.stack_used``): sizes the copy the
    sampler must take. Rust's std sort keeps a 4 KiB scratch buffer on the stack."""
    exe = build_rust(tmp_path)
    snaps = take_snapshots(exe, tmp_path / "snaps", "12")
    loaded = [load_snapshot(snaps, p.stem) for p in sorted(snaps.glob("*.snap"))]
    unwinder = Unwinder()
    pairs = [(s, s.mappings) for s in loaded]

    def walk_all():
        return [unwinder.unwind(s.regs, s.stack, m) for s, m in pairs]

    results = benchmark.pedantic(walk_all, rounds=3, iterations=1)
    used = sorted(r.stack_used for r in results)
    complete = sum(not r.truncated for r in results)
    frames = sum(len(r.addrs) for r in results) / len(results)
    print(
        f"\nRust release snapshots: {len(used)}, complete {complete}, {frames:.1f} frames avg, "
        f"{benchmark.stats.stats.min / len(used) * 1e6:.1f} µs/sample warm; stack needed: "
        f"median {used[len(used) // 2]} B, p95 {used[int(len(used) * 0.95)]} B, max {used[-1]} B"
    )
