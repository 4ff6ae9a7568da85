"""Symbolization speed: per cached address and per new large binary, against binutils' addr2line.

The large binary is the biggest shared library on the machine (``libLLVM-*.so*`` when installed,
117 MB on Debian 12 with 35 000 exported functions), mapped into a child Python process with
ctypes. The same addresses go to ``addr2line -f -e LIB`` in the same run:

- new binary: a fresh ``Symbolizer`` (reads the maps, the ELF headers and the symbol table, then
  symbolizes N addresses) against one cold ``addr2line`` run over the same N addresses;
- cached address: the same ``Symbolizer`` asked again, against a long-running ``addr2line``
  reading addresses from a pipe (its own symbol table already loaded).

``llvm-symbolizer`` (the symbolizer of LLVM's sanitizers), when installed, is measured the same way.

Run: ``python -m pytest bench/test_bench_symbolize.py -s -p no:cacheprovider``
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time

import pytest

from profiler.process.maps import read_maps
from profiler.symbolize import Symbolizer
from tests.support import skip_or_fail

ADDRESSES = 1000


def _largest_library() -> str:
    candidates = glob.glob("/usr/lib/x86_64-linux-gnu/libLLVM*.so*") or glob.glob(
        "/usr/lib/*/*.so*"
    )
    files = [p for p in candidates if os.path.isfile(p) and not os.path.islink(p)]
    if not files:
        skip_or_fail("no shared library to measure")
    return max(files, key=os.path.getsize)


def _addr2line() -> str:
    path = shutil.which("addr2line")
    if path is None:
        skip_or_fail("needs binutils' addr2line as the peer")
    return path


def _peers(library: str) -> list[tuple[str, list[str], int]]:
    """(name, command without addresses, output lines per address) of each installed peer."""
    peers = [("addr2line -f -C", [_addr2line(), "-f", "-C", "-e", library], 2)]
    llvm = shutil.which("llvm-symbolizer")
    if llvm is not None:
        peers.append(("llvm-symbolizer", [llvm, f"--obj={library}", "--functions=linkage"], 3))
    return peers


@pytest.fixture(scope="module")
def big_library_process():
    """A child process with the largest library mapped; yields (pid, library, vaddrs, runtime)."""
    library = _largest_library()
    nm = shutil.which("nm")
    if nm is None:
        skip_or_fail("needs nm to choose addresses")
    out = subprocess.run(
        [nm, "-D", "-S", "--defined-only", library], capture_output=True, text=True
    )
    functions = sorted(
        (int(p[0], 16), int(p[1], 16))
        for p in (line.split() for line in out.stdout.splitlines())
        if len(p) == 4 and p[2] in "Tt" and int(p[1], 16) > 1
    )
    step = max(1, len(functions) // ADDRESSES)
    vaddrs = [start + size // 2 for start, size in functions[::step][:ADDRESSES]]
    child = subprocess.Popen(
        [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1]); print('ready', "
         "flush=True); sys.stdin.read()", library],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "ready"
        real = os.path.realpath(library)
        base = min(m.start - m.offset for m in read_maps(child.pid) if m.path == real)
        # GNU ld lays out libraries with file offset == virtual address, so base + vaddr.
        yield child.pid, library, vaddrs, [base + v for v in vaddrs]
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()


def _cold_run(command: list[str], vaddrs: list[int], lines_per_address: int) -> list[str]:
    args = [*command, *(f"0x{v:x}" for v in vaddrs)]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    return lines[0::lines_per_address] if lines_per_address == 2 else lines


def _per_round(seconds: float) -> str:
    return f"{seconds * 1e6 / ADDRESSES:.2f} µs/address"


def test_new_binary(benchmark, big_library_process):
    pid, library, vaddrs, runtime = big_library_process

    def symbolize_cold():
        with Symbolizer() as sym:
            return [sym.user_frames(pid, a)[0].function for a in runtime]

    ours = benchmark.pedantic(symbolize_cold, rounds=5, iterations=1, warmup_rounds=1)
    ours_s = benchmark.stats.stats.median
    print(
        f"\nnew binary {os.path.basename(library)} ({os.path.getsize(library) >> 20} MB), "
        f"{ADDRESSES} addresses: symbolizer {ours_s * 1e3:.1f} ms"
    )
    for name, command, per_address in _peers(library):
        peer_times = []
        for _ in range(5):
            t = time.perf_counter()
            theirs = _cold_run(command, vaddrs, per_address)
            peer_times.append(time.perf_counter() - t)
        if name.startswith("addr2line"):
            named = sum(1 for function in theirs if function != "??")
            assert sum(1 for function in ours if "+0x" not in function) >= named
        peer_s = sorted(peer_times)[2]
        print(f"  {name}: {peer_s * 1e3:.1f} ms, ratio ours/{name} = {ours_s / peer_s:.2f}")


def test_cached_address(benchmark, big_library_process):
    pid, library, vaddrs, runtime = big_library_process
    with Symbolizer() as sym:
        for a in runtime:
            sym.user_frames(pid, a)

        def symbolize_warm():
            return [sym.user_frames(pid, a) for a in runtime]

        benchmark(symbolize_warm)
    ours_s = benchmark.stats.stats.median
    print(f"\ncached address ({os.path.basename(library)}): symbolizer {_per_round(ours_s)}")
    batch = "".join(f"0x{v:x}\n" for v in vaddrs)
    for name, command, per_address in _peers(library):
        peer = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        try:

            def ask_peer(peer=peer, per_address=per_address):
                peer.stdin.write(batch)
                peer.stdin.flush()
                return [peer.stdout.readline() for _ in range(per_address * len(vaddrs))]

            ask_peer()  # warm: the peer has loaded its tables
            peer_times = []
            for _ in range(5):
                t = time.perf_counter()
                ask_peer()
                peer_times.append(time.perf_counter() - t)
        finally:
            peer.stdin.close()
            peer.wait()
            peer.stdout.close()
        peer_s = sorted(peer_times)[2]
        print(
            f"  warm {name} over a pipe: {_per_round(peer_s)}, "
            f"ratio ours/{name} = {ours_s / peer_s:.4f}"
        )


def test_snapshot_every_process(benchmark):
    """System-wide start: snapshot every process (maps + symbol tables), cold then warm."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]

    def snapshot_all_cold():
        with Symbolizer() as sym:
            taken = sum(sym.snapshot(pid) for pid in pids)
            t = time.perf_counter()
            for pid in pids:
                sym.snapshot(pid)
            return taken, time.perf_counter() - t, sym.stats.binaries

    taken, warm_s, binaries = benchmark.pedantic(snapshot_all_cold, rounds=3, iterations=1)
    cold_s = benchmark.stats.stats.median
    print(
        f"\nsnapshot of {taken} processes ({binaries} distinct binaries): cold (incl. the warm "
        f"pass) {cold_s:.3f} s, warm pass alone {warm_s:.3f} s"
    )
