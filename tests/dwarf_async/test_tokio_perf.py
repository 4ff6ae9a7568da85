"""End to end without our BPF code: perf samples a Tokio program (frame pointers), our DWARF
index expands each address into its inline chain, and the async transforms give logical stacks.

The logical stack of a sample in ``crunch`` must read thread -> handler -> compute -> crunch, with
no tokio::runtime frame between the worker thread and the handler.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import pytest
from elftools.elf.elffile import ELFFile

from profiler.frames import apply_async_stacks
from profiler.frames.model import KERNEL, Frame
from profiler.symbolize.dwarf import DwarfInfo
from tests.support import require_tool, skip_or_fail

from .builds import build_tokio_app
from .demangling import demangle

pytestmark = pytest.mark.slow

_CRATE_DISAMBIGUATOR = re.compile(r"\[[0-9a-f]+\]")


@dataclass
class PerfSample:
    comm: str
    tid: int
    ips: list[tuple[int, str, str]]  # (ip as perf prints it, symbol, dso), leaf first


def _perf_samples(binary: str, out_dir) -> list[PerfSample]:
    perf = require_tool("perf")
    data = out_dir / "perf.data"
    record = subprocess.run(
        [perf, "record", "-q", "-g", "-e", "cpu-clock", "-F", "999", "-o", str(data),
         "--", binary, "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    if record.returncode != 0:
        skip_or_fail(f"perf record failed: {record.stderr.strip()[-300:]}")
    script = subprocess.run(
        [perf, "script", "-i", str(data), "-F", "comm,tid,ip,sym,dso"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    samples: list[PerfSample] = []
    for block in script.stdout.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        comm, tid = lines[0].rsplit(None, 1)
        ips = []
        for line in lines[1:]:
            match = re.match(r"\s*([0-9a-f]+) (.*) \((.*)\)$", line)
            if match:
                ips.append((int(match[1], 16), match[2], match[3]))
        samples.append(PerfSample(comm.strip(), int(tid), ips))
    return samples


def _offset_to_vaddr(binary: str):
    """perf prints a DSO's addresses as file offsets: map them to ELF virtual addresses."""
    with open(binary, "rb") as stream:
        loads = [
            (s["p_offset"], s["p_vaddr"], s["p_filesz"])
            for s in ELFFile(stream).iter_segments()
            if s["p_type"] == "PT_LOAD"
        ]

    def convert(offset: int) -> int | None:
        for start, vaddr, size in loads:
            if start <= offset < start + size:
                return offset - start + vaddr
        return None

    return convert


def _plain(name: str) -> str:
    return _CRATE_DISAMBIGUATOR.sub("", name)


def _native_frames(sample: PerfSample, binary: str, info: DwarfInfo, to_vaddr) -> list[Frame]:
    """The sample's stack, leaf first, with inlined frames expanded from DWARF."""
    frames: list[Frame] = []
    for depth, (ip, symbol, dso) in enumerate(sample.ips):
        if dso == binary and (vaddr := to_vaddr(ip)) is not None:
            # A caller's address is a return address: look up the call instruction before it.
            source = info.frames(vaddr if depth == 0 else vaddr - 1)
            if source:
                frames.extend(
                    Frame(
                        function=_plain(demangle(f.function)) if f.function else symbol,
                        file=f.file,
                        line=f.line,
                        address=vaddr,
                        module=binary,
                        inlined=f.inlined,
                    )
                    for f in source
                )
                continue
        kind = KERNEL if dso == "[kernel.kallsyms]" else "user"
        frames.append(Frame(function=_plain(symbol), address=ip, module=dso, kind=kind))
    return frames


@pytest.mark.parametrize("variant", ["legacy_fp", "v0_fp_dwarf5"])
def test_perf_stacks_fold_to_handler_compute_crunch(variant, tmp_path):
    binary = build_tokio_app(variant)
    info = DwarfInfo.for_elf(binary)
    to_vaddr = _offset_to_vaddr(binary)
    checked = {"tokio_app::crunch": 0, "tokio_app::crunch_more": 0}
    for sample in _perf_samples(binary, tmp_path):
        native = _native_frames(sample, binary, info, to_vaddr)
        leaf_fns = [f.function for f in native]
        hot = next((name for name in checked if name in leaf_fns), None)
        if hot is None or not sample.comm.startswith("tokio-runtime"):
            continue
        logical = apply_async_stacks(native, sample.comm)
        root_first = [f.function for f in reversed(logical)]
        if hot == "tokio_app::crunch":
            # handler awaits compute, which runs crunch: one task.
            assert root_first[:4] == [sample.comm, "tokio_app::handler", "tokio_app::compute", hot]
        else:
            # background was handed to tokio::spawn: a task of its own, rooted at background.
            assert root_first[:3] == [sample.comm, "tokio_app::background", hot]
        assert not any("tokio::runtime" in name for name in root_first), root_first
        assert logical[-2].is_async and not native[-1].is_async
        checked[hot] += 1
    assert checked["tokio_app::crunch"] >= 10, checked
    assert checked["tokio_app::crunch_more"] >= 1, checked
