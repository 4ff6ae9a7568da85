"""Cross-check against perf's own DWARF unwinder: record the C workload with
``perf record --call-graph dwarf``, unwind each sample's registers + stack copy ourselves, and
compare with the call chains ``perf script`` prints for the same samples."""

from __future__ import annotations

import subprocess
from functools import cache

import pytest

from profiler.process.maps import ProcessMaps
from profiler.unwind import Unwinder
from profiler.unwind.cache import read_own_vdso
from profiler.unwind.elf_binary import read_elf_unwind_info, vaddr_bias
from tests.support import require_root, require_tool

from .perf_data import read_perf_data
from .workload_build import build_c

KERNEL_START = 0xFFFF_8000_0000_0000


@cache
def segments_of(path: str):
    image = read_own_vdso() if path == "[vdso]" else path
    return read_elf_unwind_info(image).segments


def record(tmp_path, seconds: str = "0.5"):
    """Record the spinning workload; returns ``(perf.data path, perf executable)``."""
    perf = require_tool("perf")
    require_root()  # perf_event_paranoid may forbid recording otherwise
    exe = build_c(tmp_path, "omit_fp")
    data = tmp_path / "perf.data"
    cmd = [perf, "record", "-q", "-e", "cpu-clock", "-F", "997", "--call-graph", "dwarf"]
    subprocess.run(
        [*cmd, "-o", str(data), "--", str(exe), "--spin", seconds],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return data, perf


def perf_script_chains(perf: str, data) -> dict[int, list[int]]:
    """time (ns) -> the addresses perf printed for that sample (DSO-relative, leaf first)."""
    out = subprocess.run(
        [perf, "script", "-i", str(data), "-F", "time,ip", "--ns"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    chains: dict[int, list[int]] = {}
    current: list[int] | None = None
    for line in out.splitlines():
        text = line.strip()
        if not text:
            current = None
        elif text.endswith(":") and current is None:
            secs, _, nanos = text[:-1].partition(".")
            current = chains.setdefault(int(secs) * 10**9 + int(nanos), [])
        elif current is not None:  # "(inlined)" marks a frame whose symbol is inlined there
            addr = int(text.split()[0], 16)
            if addr < KERNEL_START:  # perf puts the kernel's frames first; we unwind user ones
                current.append(addr)
    return chains


@pytest.mark.slow
def test_same_call_chains_as_perf(tmp_path):
    data, perf = record(tmp_path)
    recorded = read_perf_data(str(data))
    chains = perf_script_chains(perf, data)
    unwinder = Unwinder()
    compared = agreed = 0
    by_pid: dict[int, ProcessMaps] = {}
    disagreements = []
    for sample in recorded.samples:
        if not sample.regs or sample.time not in chains:
            continue
        mappings = by_pid.setdefault(sample.pid, ProcessMaps(recorded.mappings[sample.pid]))
        result = unwinder.unwind(sample.x86_regs, sample.stack, mappings)
        ours = []
        for i, addr in enumerate(result.addrs):
            m = mappings.find(addr - (1 if i else 0))
            segments = segments_of(m.path)
            # perf prints callers' addresses minus one (the call instruction, not the return).
            ours.append(addr + vaddr_bias(segments, m.start, m.offset) - (1 if i else 0))
        compared += 1
        # perf (libdw) now and then reports one frame twice in a row (about 1 sample in 500,
        # the rest of its chain equal to ours): compare with runs of a repeated frame collapsed
        # on both sides.
        if _collapse(ours) == _collapse(chains[sample.time]):
            agreed += 1
        else:
            disagreements.append((sample.time, [hex(a) for a in ours], chains[sample.time]))
    assert compared >= 100
    assert agreed == compared, disagreements[:3]


def _collapse(chain: list[int]) -> list[int]:
    """``chain`` without consecutive repeats of the same address."""
    return [a for i, a in enumerate(chain) if i == 0 or a != chain[i - 1]]
