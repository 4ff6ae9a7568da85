"""Merging Python runs into native stacks (pure data: no process, no kernel)."""

from __future__ import annotations

from profiler.frames.model import (
    JIT,
    KERNEL,
    KERNEL_MODULE,
    PYTHON,
    PYTHON_MODULE,
    USER,
    Frame,
    Module,
)
from profiler.python.merge import merge, reaches_entry, split_runs

LIBC = Module("/usr/lib/x86_64-linux-gnu/libc.so.6")
PY = Module("/usr/bin/python3.11")


def n(name: str, module: Module = PY, address: int = 0, inlined: bool = False) -> Frame:
    return Frame(name, module=module, address=address, kind=USER, inlined=inlined)


def p(name: str) -> Frame:
    return Frame(name, module=PYTHON_MODULE, kind=PYTHON)


def k(name: str) -> Frame:
    return Frame(name, module=KERNEL_MODULE, kind=KERNEL)


EVAL = n("_PyEval_EvalFrameDefault")
ROOT = [n("PyEval_EvalCode"), n("Py_RunMain"), n("__libc_start_call_main", LIBC), n("_start")]


def names(frames):
    return [f.function for f in frames]


def test_each_eval_frame_becomes_its_run_and_a_c_call_keeps_both_sides():
    native = [k("do_syscall_64"), n("time_thread_time"), EVAL, n("list_sort"), n("builtin_sorted")]
    native += [EVAL, *ROOT]
    runs = [[p("key_func")], [p("handler"), p("main"), p("<module>")]]
    merged = merge(native, runs)
    assert names(merged) == [
        "do_syscall_64",
        "time_thread_time",
        "key_func",
        "list_sort",
        "builtin_sorted",
        "handler",
        "main",
        "<module>",
        "PyEval_EvalCode",
        "Py_RunMain",
        "__libc_start_call_main",
        "_start",
    ]


def test_inlined_helpers_of_the_loop_go_with_it():
    native = [n("_Py_INCREF", inlined=True), EVAL, *ROOT]
    assert names(merge(native, [[p("f")]]))[:2] == ["f", "PyEval_EvalCode"]


def test_truncated_native_stack_gets_the_outer_runs_at_its_end():
    native = [n("leaf"), EVAL, n("list_sort")]  # unwinding stopped here
    runs = [[p("key_func")], [p("handler"), p("main")]]
    assert names(merge(native, runs)) == ["leaf", "key_func", "list_sort", "handler", "main"]


def test_unrecognised_eval_frame_keeps_the_process_entry_at_the_root():
    cold = n("python3.11+0x1234", address=0x1234)
    native = [EVAL, n("builtin_sorted"), cold, *ROOT]
    runs = [[p("key_func")], [p("handler")]]
    # Without the range, the unnamed frame of the interpreter's binary is taken for the loop.
    assert names(merge(native, runs)) == ["key_func", "builtin_sorted", "handler", *names(ROOT)]
    # ... and with the loop's cold range known, the unnamed frame is recognised as such.
    merged = merge(native, runs, eval_ranges=[(0x1000, 0x2000)])
    assert names(merged)[:3] == ["key_func", "builtin_sorted", "handler"]
    assert names(merged)[3:] == names(ROOT)
    # A named frame is not taken for the loop: the runs go after the last recognised one.
    native = [EVAL, n("builtin_sorted"), n("unknown_but_named"), *ROOT]
    assert names(merge(native, runs))[:3] == ["key_func", "handler", "builtin_sorted"]


def test_frame_pointers_without_frame_pointers_keep_only_the_leaf():
    native = [k("irq"), n("PyObject_Free"), n("garbage1"), n("garbage2")]
    runs = [[p("spin"), p("leaf_a")], [p("main")]]
    assert names(merge(native, runs, native_reliable=False)) == [
        "irq",
        "PyObject_Free",
        "spin",
        "leaf_a",
        "main",
    ]
    # A leaf in the loop itself is replaced by its Python frame.
    native = [EVAL, n("garbage")]
    assert names(merge(native, [[p("spin")]], native_reliable=False)) == ["spin"]


def test_perf_trampolines_read_as_without_them():
    tramp = Frame("py::main:/w.py", module=Module("[jit]"), kind=JIT)
    plumbing = [
        n("PyObject_Vectorcall"),
        n("_PyObject_VectorcallTstate"),
        n("py_trampoline_evaluator"),
    ]
    native = [EVAL, *plumbing, tramp, EVAL, *plumbing, tramp, EVAL, n("py_trampoline_evaluator")]
    native += ROOT
    runs = [[p("leaf")], [p("main")], [p("<module>")]]
    assert names(merge(native, runs)) == ["leaf", "main", "<module>", *names(ROOT)]
    # Real C frames between two runs stay.
    native = [EVAL, n("builtin_sorted"), n("py_trampoline_evaluator"), tramp, EVAL, *ROOT]
    merged = names(merge(native, [[p("key")], [p("handler")]]))
    assert merged[:3] == ["key", "builtin_sorted", "handler"]


def test_no_runs_is_the_native_stack():
    native = [EVAL, *ROOT]
    assert merge(native, []) == native


def test_runs_are_split_after_each_end():
    frames = [p("a"), p("b"), p("c"), p("d")]
    assert [names(r) for r in split_runs(frames, [False, True, False, False])] == [
        ["a", "b"],
        ["c", "d"],
    ]


def test_entry_is_the_c_library_or_start():
    assert reaches_entry(ROOT)
    assert not reaches_entry([n("f"), n("g")])
    assert reaches_entry([n("f"), n("clone3", LIBC)])
