"""Async frame recognition, executor folding and apply_async_stacks on constructed stacks."""

from __future__ import annotations

import pytest

from profiler.frames import (
    TOKIO_RULES,
    FrameRules,
    apply_async_stacks,
    async_function_of,
    collapse_async_duplicates,
    fold_executor_frames,
    rename_async_frames,
)
from profiler.frames.folding import THREAD_MODULE
from profiler.frames.model import Frame


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("tokio_app::compute::{{closure}}", "tokio_app::compute"),  # legacy, demangled
        ("tokio_app::compute::{{closure}}::h71e211407705101d", "tokio_app::compute"),
        ("tokio_app::compute::{closure#0}", "tokio_app::compute"),  # v0, demangled
        ("tokio_app::compute::{async_fn#0}", "tokio_app::compute"),  # DWARF
        ("tokio_app::main::{async_block#0}", "tokio_app::main"),
        ("tokio_app::main::{closure#0}::{closure#1}", "tokio_app::main"),
        ("tokio_app::handler::{{closure}} (.llvm.15645962806032286698)", "tokio_app::handler"),
        ("<app::Server as app::Serve>::serve::{{closure}}", "<app::Server as app::Serve>::serve"),
        (
            "<core::future::from_generator::GenFuture<app::handler::{{closure}}> as "
            "core::future::future::Future>::poll",
            "app::handler",
        ),
        ("<core::future::from_generator::GenFuture<T> as core::future::future::Future>::poll", ""),
        ("core::future::from_generator::GenFuture<T>::poll", ""),
        (
            "<app::Ticker as core::future::future::Future>::poll",
            "<app::Ticker as core::future::future::Future>::poll",
        ),
        ("tokio_app::crunch", None),
        ("core::hint::black_box", None),
        ("main", None),
    ],
)
def test_async_function_of(name, function):
    assert async_function_of(name) == function


def _frames(*names: str, inlined: tuple[bool, ...] = ()) -> list[Frame]:
    """Frames leaf first, addresses counting up so each frame is distinguishable."""
    flags = inlined or (False,) * len(names)
    return [
        Frame(function=n, address=0x1000 + 16 * i, line=i + 1, inlined=f)
        for i, (n, f) in enumerate(zip(names, flags, strict=True))
    ]


def test_rename_marks_async_and_gives_wrappers_their_body_name():
    frames = _frames(
        "app::crunch",
        "app::compute::{{closure}}",
        "<core::future::from_generator::GenFuture<T> as core::future::future::Future>::poll",
        "app::handler::{{closure}}",
    )
    renamed = rename_async_frames(frames)
    assert [(f.function, f.is_async) for f in renamed] == [
        ("app::crunch", False),
        ("app::compute", True),
        ("app::compute", True),  # the GenFuture poll belongs to the body it polls
        ("app::handler", True),
    ]
    assert renamed[0] is frames[0]  # untouched frames are not copied


def test_collapse_merges_only_neighbouring_async_frames_of_one_fn():
    frames = rename_async_frames(
        _frames(
            "app::leaf",
            "app::leaf",  # plain recursion: kept
            "app::compute::{async_fn#0}",
            "app::compute::{{closure}}",
            "app::handler::{{closure}}",
            inlined=(False, False, True, False, False),
        )
    )
    collapsed = collapse_async_duplicates(frames)
    assert [f.function for f in collapsed] == [
        "app::leaf",
        "app::leaf",
        "app::compute",
        "app::handler",
    ]
    merged = collapsed[2]
    # The innermost line (where in compute the time went), the outermost address and flag.
    assert (merged.line, merged.address, merged.inlined) == (
        frames[2].line,
        frames[3].address,
        False,
    )


# A Tokio worker's native stack as perf and DWARF report it (leaf first, demangled).
WORKER_STACK = (
    "core::hint::black_box",
    "tokio_app::crunch",
    "tokio_app::compute::{{closure}}",
    "tokio_app::handler::{{closure}}",
    "tokio::runtime::task::core::Core<T,S>::poll::{{closure}}",
    "tokio::loom::std::unsafe_cell::UnsafeCell<T>::with_mut",
    "tokio::runtime::task::core::Core<T,S>::poll",
    "tokio::runtime::task::harness::poll_future::{{closure}}",
    "<core::panic::unwind_safe::AssertUnwindSafe<F> as core::ops::function::FnOnce<()>>::call_once",
    "std::panicking::catch_unwind::do_call",
    "std::panicking::catch_unwind",
    "std::panic::catch_unwind",
    "tokio::runtime::task::harness::poll_future",
    "tokio::runtime::task::harness::Harness<T,S>::poll",
    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task::{{closure}}",
    "tokio::runtime::coop::budget",
    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
    "tokio::runtime::scheduler::multi_thread::worker::run",
    "tokio::runtime::blocking::pool::Inner::run",
    "std::sys::backtrace::__rust_begin_short_backtrace",
    "core::ops::function::FnOnce::call_once{{vtable.shim}}",
    "std::sys::pal::unix::thread::Thread::new::thread_start",
    "start_thread",
    "clone3",
)


def test_worker_stack_folds_to_thread_then_task():
    logical = apply_async_stacks(_frames(*WORKER_STACK), "tokio-runtime-worker")
    root_first = [f.function for f in reversed(logical)]
    assert root_first == [
        "tokio-runtime-worker",
        "tokio_app::handler",
        "tokio_app::compute",
        "tokio_app::crunch",
        "core::hint::black_box",
    ]
    assert logical[-1].module == THREAD_MODULE
    assert [f.is_async for f in logical] == [False, False, True, True, False]


def test_task_that_calls_into_tokio_keeps_its_own_frames():
    stack = (
        "malloc",
        "tokio::runtime::task::new_task",
        "tokio::runtime::context::with_current",
        "tokio::task::spawn::spawn",
        "tokio_app::handler::{{closure}}",
        *WORKER_STACK[4:],
    )
    logical = apply_async_stacks(_frames(*stack), "worker")
    assert [f.function for f in reversed(logical)] == [
        "worker",
        "tokio_app::handler",
        "tokio::task::spawn::spawn",
        "tokio::runtime::task::new_task",  # the task's own work, not the executor's
        "malloc",
    ]


def test_idle_worker_keeps_what_it_waits_in():
    stack = (
        "epoll_wait",
        "mio::poll::Poll::poll",
        "tokio::runtime::io::driver::Driver::turn",
        "tokio::runtime::scheduler::multi_thread::park::Parker::park",
        "tokio::runtime::scheduler::multi_thread::worker::Context::park_timeout",
        "tokio::runtime::scheduler::multi_thread::worker::run",
        "std::sys::pal::unix::thread::Thread::new::thread_start",
        "start_thread",
        "clone3",
    )
    logical = apply_async_stacks(_frames(*stack), "worker")
    assert [f.function for f in reversed(logical)] == [
        "worker",
        "tokio::runtime::io::driver::Driver::turn",
        "mio::poll::Poll::poll",
        "epoll_wait",
    ]


def test_modes():
    frames = _frames(*WORKER_STACK)
    assert apply_async_stacks(frames, "w", mode="off") is frames
    plain = _frames("app::f::{{closure}}", "app::main", "__libc_start_main")
    assert apply_async_stacks(plain, "app", mode="auto") is plain  # no executor on the stack
    forced = apply_async_stacks(plain, "app", mode="on")
    assert [f.function for f in forced] == ["app::f", "app::main", "__libc_start_main", "app"]
    with pytest.raises(ValueError, match="auto"):
        apply_async_stacks(frames, "w", mode="sometimes")


def test_keep_rules_win_and_rules_extend():
    rules = TOKIO_RULES.extended(keep=(r"std::panic::catch_unwind",), drop=(r"core::hint::.*",))
    logical = apply_async_stacks(_frames(*WORKER_STACK), "w", rules=rules)
    names = [f.function for f in reversed(logical)]
    assert names == ["w", "std::panic::catch_unwind", "tokio_app::handler", "tokio_app::compute",
                     "tokio_app::crunch"]  # fmt: skip
    assert rules.keeps("std::panic::catch_unwind") and not rules.drops("std::panic::catch_unwind")


def test_fold_without_thread_name_and_existing_root():
    frames = rename_async_frames(_frames(*WORKER_STACK))
    folded = fold_executor_frames(frames, TOKIO_RULES, thread_name=None)
    assert folded[-1].function == "tokio_app::handler"
    again = fold_executor_frames(fold_executor_frames(frames, TOKIO_RULES, "w"), TOKIO_RULES, "w")
    assert [f.function for f in again].count("w") == 1


def test_empty_rules_remove_nothing_but_add_the_root():
    frames = _frames("a", "b")
    assert fold_executor_frames(frames, FrameRules(), "t") == [
        *frames,
        Frame("t", module=THREAD_MODULE),
    ]
