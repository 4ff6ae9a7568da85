"""Uprobes: symbol -> file offset, and real uprobe/uretprobe events on a compiled binary."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from pybpf import uprobe
from tests.support import require_tool

TARGET_C = r"""
#include <stdlib.h>
__attribute__((noinline)) int probed(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
    int n = atoi(argv[1]), s = 0;
    for (int i = 0; i < n; i++) s += probed(i);
    return s == -1;
}
"""


class FakeSegment(dict):
    """A program header as pyelftools presents it (indexable by field name)."""

    def __init__(self, p_type, p_vaddr, p_offset, p_filesz):
        super().__init__(p_type=p_type, p_vaddr=p_vaddr, p_offset=p_offset, p_filesz=p_filesz)


class FakeElf:
    def __init__(self, segments):
        self.segments = segments

    def iter_segments(self):
        return iter(self.segments)


def test_vaddr_to_file_offset_uses_the_load_segment():
    # As rust-lld lays it out: code mapped one page above its file offset.
    elf = FakeElf(
        [
            FakeSegment("PT_PHDR", 0x40, 0x40, 0x200),
            FakeSegment("PT_LOAD", 0x0, 0x0, 0x1000),
            FakeSegment("PT_LOAD", 0x2000, 0x1000, 0x3000),
        ]
    )
    assert uprobe.vaddr_to_file_offset(elf, 0x10) == 0x10
    assert uprobe.vaddr_to_file_offset(elf, 0x2345) == 0x1345
    with pytest.raises(ValueError, match="no PT_LOAD"):
        uprobe.vaddr_to_file_offset(elf, 0x9000)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    gcc = require_tool("gcc")
    work = tmp_path_factory.mktemp("uprobe")
    (work / "target.c").write_text(TARGET_C)
    subprocess.run([gcc, "-O1", "-o", str(work / "target"), str(work / "target.c")], check=True)
    return work / "target"


def test_symbol_offset_agrees_with_nm_and_readelf(target):
    nm = require_tool("nm")
    line = next(
        ln
        for ln in subprocess.run([nm, str(target)], capture_output=True, text=True).stdout.split(
            "\n"
        )
        if ln.endswith(" probed")
    )
    vaddr = int(line.split()[0], 16)
    readelf = require_tool("readelf")
    out = subprocess.run([readelf, "-lW", str(target)], capture_output=True, text=True).stdout
    expected = None
    for row in out.splitlines():
        cols = row.split()
        if cols[:1] == ["LOAD"]:
            offset, seg_vaddr, filesz = int(cols[1], 16), int(cols[2], 16), int(cols[4], 16)
            if seg_vaddr <= vaddr < seg_vaddr + filesz:
                expected = vaddr - seg_vaddr + offset
    assert expected is not None
    assert uprobe.symbol_file_offset(target, "probed") == expected


def test_unknown_symbol_is_named(target):
    with pytest.raises(LookupError, match="no_such_function"):
        uprobe.symbol_file_offset(target, "no_such_function")


def test_symbol_or_offset_not_both(target):
    with pytest.raises(ValueError, match="symbol or an offset"):
        uprobe.open_uprobe(target, "probed", offset=0x1000)


def _stopped_run(target, calls: int) -> subprocess.Popen:
    """Start ``target calls`` stopped just before exec, so probes can be opened on its pid."""
    child = subprocess.Popen(["sh", "-c", f'kill -STOP "$$"; exec "{target}" {calls}'])
    os.waitpid(child.pid, os.WUNTRACED)
    return child


@pytest.mark.bpf
def test_uprobe_and_uretprobe_count_calls(target, no_fd_leak):
    assert uprobe.uprobe_pmu_type() > 5  # a dynamic PMU, above the fixed PERF_TYPE_* ids
    child = _stopped_run(target, 37)
    try:
        with (
            uprobe.open_uprobe(target, "probed", pid=child.pid) as entry,
            uprobe.open_uprobe(target, "probed", pid=child.pid, retprobe=True) as ret,
        ):
            os.kill(child.pid, signal.SIGCONT)
            assert child.wait(timeout=30) == 0
            assert (entry.read_count(), ret.read_count()) == (37, 37)
            assert "uretprobe" in ret.description
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.bpf
def test_uprobe_by_offset(target, no_fd_leak):
    offset = uprobe.symbol_file_offset(target, "probed")
    child = _stopped_run(target, 5)
    try:
        with uprobe.open_uprobe(target, offset=offset, pid=child.pid) as entry:
            os.kill(child.pid, signal.SIGCONT)
            child.wait(timeout=30)
            assert entry.read_count() == 5
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
