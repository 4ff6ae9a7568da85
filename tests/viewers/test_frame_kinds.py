"""The frame classifier on the conventions, and on what our own pprof exporter writes."""

from __future__ import annotations

from pprof_encoder import Frame, Mapping, ProfileBuilder
from profiler.frames.model import JIT as MODEL_JIT
from profiler.frames.model import KERNEL as MODEL_KERNEL
from profiler.frames.model import KERNEL_MODULE, Module, SymbolizedSample
from profiler.frames.model import Frame as ModelFrame
from profiler.output.collected import CollectedProfile
from profiler.output.frame_kinds import ASYNC, JIT, KERNEL, NATIVE, PYTHON, classify, line_kinds


def test_conventions():
    assert classify("do_syscall_64", "", "[kernel.kallsyms]") == KERNEL
    assert classify("vfs_write_[k]", "", None) == KERNEL  # converted from folded stacks
    assert classify("my_app::handler [async]", "src/main.rs", "/bin/app") == ASYNC
    assert classify("LazyCompile:*fib", "", "[jit]") == JIT
    assert classify("fib_[j]", "", None) == JIT
    assert classify("handle_request", "app/views.py", "[python]") == PYTHON
    assert classify("handle_request", "app/views.py", None) == PYTHON  # a Python-only profiler
    assert classify("PyEval_EvalFrameDefault", "Python/ceval.c", "/usr/bin/python3.11") == NATIVE
    assert classify("0x7f01", "", "/usr/lib/libc.so.6") == NATIVE
    # A .py file inside a native mapping is not a Python frame (the mapping decides).
    assert classify("weird", "gen.py", "/bin/app") == NATIVE


def test_inlined_lines_share_the_location_mapping():
    kernel = Mapping(filename="[kernel.kallsyms]")
    b = ProfileBuilder([("samples", "count")])
    b.add_sample(
        [
            Frame("inner", address=0xFFFF1, mapping=kernel, inlined=True),
            Frame("outer", address=0xFFFF1, mapping=kernel),
        ],
        1,
    )
    [loc] = b.build().locations
    assert line_kinds(loc) == [KERNEL, KERNEL]


def test_the_exporters_frames_are_classified_by_their_kind():
    # What profiler/output/pprof.py writes for each kind of model frame.
    app = Module("/bin/app", start=0x1000, limit=0x2000)
    frames = (
        ModelFrame(
            "tcp_sendmsg", address=0xFFFFFFFF81000000, module=KERNEL_MODULE, kind=MODEL_KERNEL
        ),
        ModelFrame(
            "LazyCompile:*work",
            address=0x3000,
            module=Module("[jit]", start=0x3000, limit=0x4000),
            kind=MODEL_JIT,
        ),
        ModelFrame("app::serve::{{closure}}", "src/serve.rs", 12, 0x1200, app, is_async=True),
        ModelFrame("main", "main.c", 3, 0x1100, app),
    )
    collected = CollectedProfile(
        samples=[SymbolizedSample(frames, 1, {"pid": 1, "process_name": "app"})],
        freq=99,
        start_time=0.0,
        duration=1.0,
    )
    profile = collected.to_pprof()
    by_name = {}
    for loc in profile.locations:
        for ln, kind in zip(loc.lines, line_kinds(loc), strict=True):
            by_name[ln.function.name] = kind
    assert by_name == {
        "tcp_sendmsg": KERNEL,
        "LazyCompile:*work": JIT,
        "app::serve::{{closure}} [async]": ASYNC,
        "main": NATIVE,
    }
