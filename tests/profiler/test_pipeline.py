"""The user-space pipeline from recorded raw samples: no root, no kernel."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from profiler.bpf.samples import RawSample
from profiler.frames.model import KERNEL, KERNEL_MODULE, Frame, Module, SymbolizedSample
from profiler.frames.pipeline import Pipeline
from profiler.output.collected import CollectedProfile
from profiler.output.formats import UnknownFormatError, format_for_path
from profiler.process.info import (
    ProcessInfo,
    container_id_from_cgroup,
    pod_uid_from_cgroup,
    read_process_info,
)

USER_SYMBOLS = {0x1000: "main", 0x2000: "run", 0x3000: "leaf"}
KERNEL_SYMBOLS = {0xFFFF0000: "do_syscall_64", 0xFFFF1000: "sys_write"}
APP = Module("/bin/app", build_id="ab12", start=0x1000, limit=0x9000)


class RecordingSymbolizer:
    """A symbolizer over a fixed table; records the addresses it was asked for."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def _lookup(self, table: dict[int, str], addr: int) -> str:
        self.asked.append(addr)
        base = max((a for a in table if a <= addr), default=None)
        return table[base] if base is not None and addr - base < 0x1000 else f"[unknown+{addr:#x}]"

    def user_frames(self, pid: int, addr: int) -> list[Frame]:
        return [Frame(self._lookup(USER_SYMBOLS, addr), address=addr, module=APP)]

    def kernel_frames(self, addr: int) -> list[Frame]:
        name = self._lookup(KERNEL_SYMBOLS, addr)
        return [Frame(name, address=addr, module=KERNEL_MODULE, kind=KERNEL)]


def info(pid: int) -> ProcessInfo:
    return ProcessInfo(pid=pid, name="app", executable="/bin/app", cgroup="/system.slice/app")


def test_pipeline_symbolizes_merges_and_labels():
    sym = RecordingSymbolizer()
    pipe = Pipeline(symbolizer=sym, process_info=info, thread_name=lambda p, t: "worker")
    raw = [
        RawSample(10, 11, "app", (0x3010, 0x2005, 0x1005), (), count=5),
        # Same functions through other addresses: separate (addresses are kept for pprof).
        RawSample(10, 11, "app", (0x3020, 0x2009, 0x1009), (), count=2),
        # The very same stack again (e.g. from a later drain): merged.
        RawSample(10, 11, "app", (0x3010, 0x2005, 0x1005), (), count=1),
        RawSample(10, 11, "app", (0x2010, 0x1005), (0xFFFF1010, 0xFFFF0020), count=3),
        RawSample(10, 12, "app", (), (), count=1),
    ]
    out = pipe.run(raw)
    assert sorted(s.count for s in out if s.frames and s.frames[0].function == "leaf") == [2, 6]
    by_stack = {tuple(f.function for f in s.frames): s for s in out}
    kernel_stack = by_stack[("sys_write", "do_syscall_64", "run", "main")]
    assert kernel_stack.count == 3
    assert kernel_stack.frames[0].kind == KERNEL
    assert by_stack[()].labels["tid"] == 12
    labels = by_stack[("leaf", "run", "main")].labels
    assert labels == {
        "pid": 10,
        "tid": 11,
        "thread_name": "worker",
        "process_name": "app",
        "executable": "/bin/app",
        "cgroup": "/system.slice/app",
    }
    assert pipe.stats.samples == 12
    assert pipe.stats.empty_stacks == 1
    # The user leaf is exact; return addresses are looked up one byte earlier (the call site).
    assert sym.asked[:3] == [0x3010, 0x2004, 0x1004]
    # Under a kernel leaf, the user "leaf" is a return address too (the syscall's next insn).
    assert 0x2010 - 1 in sym.asked and 0xFFFF0020 - 1 in sym.asked


def test_transforms_run_in_order_with_thread_name():
    seen = []

    def drop_main(frames, thread):
        seen.append(thread)
        return [f for f in frames if f.function != "main"]

    pipe = Pipeline(
        symbolizer=RecordingSymbolizer(),
        process_info=info,
        thread_name=lambda p, t: "",
        transforms=[drop_main],
    )
    out = pipe.run([RawSample(1, 2, "comm-name", (0x3000, 0x1005), (), count=4)])
    assert [f.function for f in out[0].frames] == ["leaf"]
    assert seen == ["comm-name"]  # the comm stands in when the thread name is unknown


def test_profile_outputs_folded_svg_and_top():
    pipe = Pipeline(symbolizer=RecordingSymbolizer(), process_info=info)
    samples = pipe.run(
        [
            RawSample(10, 10, "app", (0x3000, 0x2005, 0x1005), (), count=6),
            RawSample(10, 10, "app", (0x2010, 0x1005), (0xFFFF1000,), count=2),
        ]
    )
    prof = CollectedProfile(samples=samples, freq=100, start_time=0.0, duration=1.0)
    assert prof.period_ns == 10_000_000
    assert prof.total == 8
    assert prof.folded().splitlines() == [
        "app;main;run;leaf 6",
        "app;main;run;sys_write_[k] 2",
    ]
    top = prof.top(5)
    assert top[0] == ("leaf", 6, 6)
    assert ("sys_write", 2, 2) in top
    table = prof.top_table(5)
    assert "75.00%" in table and "leaf" in table
    svg = prof.svg()
    root = ET.fromstring(svg)  # well-formed XML
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "leaf (6 samples, 75.00%)" in titles
    assert prof.svg() == svg  # deterministic


def test_folded_names_and_one_shared_mapping():
    kernel = Frame("a;b", module=KERNEL_MODULE, kind=KERNEL)
    user = [Frame(name, address=0x1000 + i, module=APP) for i, name in enumerate(["x", "main"])]
    sample = SymbolizedSample((kernel, *user), 3, {"process_name": "app", "pid": 1})
    prof = CollectedProfile(samples=[sample], freq=100, start_time=0.0, duration=1.0)
    assert prof.folded() == "app;main;x;a:b_[k] 3\n"
    pprof = prof.to_pprof()
    assert [m.filename for m in pprof.mappings] == ["[kernel.kallsyms]", "/bin/app"]
    assert pprof.mappings[1].build_id == "ab12" and pprof.mappings[1].start == 0x1000


def test_format_from_the_file_name():
    assert format_for_path("x.svg") == "svg"
    assert format_for_path("x.folded") == "folded"
    assert format_for_path("profile.otlp") == "otlp"
    assert format_for_path("profile.binpb") == "otlp"
    assert format_for_path("profile.pb.gz") == "pprof"
    assert format_for_path("profile") == "pprof"
    with pytest.raises(UnknownFormatError, match=r"pprof\|folded\|otlp\|svg\|html\|speedscope"):
        format_for_path("out.json")


def test_container_and_pod_from_cgroup_paths():
    cid = "0123456789abcdef" * 4
    systemd = (
        "/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod1a2b3c4d_1111_2222_3333_444455556666.slice/"
        f"cri-containerd-{cid}.scope"
    )
    assert container_id_from_cgroup(systemd) == cid
    assert pod_uid_from_cgroup(systemd) == "1a2b3c4d-1111-2222-3333-444455556666"
    assert container_id_from_cgroup(f"/docker/{cid}") == cid
    assert container_id_from_cgroup("/user.slice/user-0.slice/session-1.scope") == ""
    assert pod_uid_from_cgroup("/system.slice/ssh.service") == ""


def test_read_process_info_of_self_and_of_a_missing_pid():
    import os

    me = read_process_info(os.getpid())
    assert me is not None and me.pid == os.getpid() and me.name
    assert read_process_info(2**22 + 12345) is None


def test_stack_cache_is_bounded_lru_and_forgets_a_process():
    sym = RecordingSymbolizer()
    pipe = Pipeline(symbolizer=sym, process_info=info, max_cached_stacks=3)
    hot = RawSample(7, 7, "app", (0x3000, 0x1005), ())
    for pid in range(10, 20):  # ten processes, one stack each, the hot one seen every time
        pipe.run([hot, RawSample(pid, pid, "app", (0x2000 + pid, 0x1005), ())])
    assert len(pipe._cache) == 3
    asked = len(sym.asked)
    pipe.run([hot])
    assert len(sym.asked) == asked  # the hot stack stayed cached (least recently used went)
    pipe.forget_process(7)
    assert all(key[0] != 7 for key in pipe._cache) and 7 not in pipe._by_pid
