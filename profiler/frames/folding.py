"""Executor frame folding: remove the runtime machinery between a thread's entry and a task's root.

A ``FrameRules`` holds regular expressions matched against the whole function name (like pprof's
``drop_frames``/``keep_frames``):

- ``drop``: frames removed wherever they appear (panic guards, ``FnOnce::call_once`` shims, ...);
- ``keep``: frames never removed (they win over ``drop`` and over the executor cut);
- ``runtime``: frames that belong to the executor itself. When a stack holds one, everything
  between the thread's entry (the root) and the task root (the outermost async frame that is not
  executor machinery) is cut away, whatever its name, and the thread's name becomes the root.

``TOKIO_RULES`` is the default set for Tokio's multi-thread and current-thread runtimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import USER, Frame, Module

# The synthetic root frame that names the thread (see ``thread_root_frame``).
THREAD_MODULE = Module("[thread]")


@dataclass(frozen=True)
class FrameRules:
    """Regexes (full match on ``Frame.function``) that decide which frames folding removes."""

    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    runtime: tuple[str, ...] = ()
    _compiled: dict[str, re.Pattern[str] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for kind in ("drop", "keep", "runtime"):
            patterns = getattr(self, kind)
            self._compiled[kind] = (
                re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
            )

    def _matches(self, kind: str, name: str) -> bool:
        pattern = self._compiled[kind]
        return pattern is not None and pattern.fullmatch(name) is not None

    def drops(self, name: str) -> bool:
        """Whether a frame called ``name`` is removed wherever it appears."""
        return self._matches("drop", name) and not self._matches("keep", name)

    def keeps(self, name: str) -> bool:
        """Whether a frame called ``name`` is protected from every removal."""
        return self._matches("keep", name)

    def is_runtime(self, name: str) -> bool:
        """Whether a frame called ``name`` is executor machinery."""
        return self._matches("runtime", name) and not self._matches("keep", name)

    def extended(
        self, drop: tuple[str, ...] = (), keep: tuple[str, ...] = (), runtime: tuple[str, ...] = ()
    ) -> FrameRules:
        """These rules plus more patterns of each kind."""
        return FrameRules(self.drop + drop, self.keep + keep, self.runtime + runtime)


TOKIO_RULES = FrameRules(
    runtime=(
        r"<?tokio::runtime::.*",
        r"<?tokio::macros::scoped_tls::.*",
        r"<?tokio::loom::.*",
        r"<?tokio::park::.*",  # tokio < 1.21
        r"<tokio::runtime::blocking::task::BlockingTask<.*",
    ),
    drop=(
        # Tokio's own scheduling plumbing, also when a task calls into it (yield, spawn, wake).
        r"<?tokio::runtime::context::.*",
        r"<?tokio::runtime::coop::.*",
        r"<?tokio::runtime::park::.*",
        r"<?tokio::runtime::scheduler::.*::(park|unpark|park_timeout|park_internal).*",
        r"<?tokio::loom::.*",
        r"<?tokio::macros::scoped_tls::.*",
        # Panic guards and call shims between the thread entry and the closure it runs.
        r"std::panic::catch_unwind.*",
        r"std::panicking::(try|catch_unwind).*",
        r"<core::panic::unwind_safe::AssertUnwindSafe<.*",
        r"core::ops::function::(FnOnce|FnMut|Fn)::call(_once|_mut)?.*",
        r"<alloc::boxed::Box<.*> as core::ops::function::FnOnce<.*>>::call_once.*",
        r"<F as core::future::into_future::IntoFuture>::into_future",
        r"<core::pin::Pin<.*> as core::future::future::Future>::poll",
        r"<&mut .* as core::future::future::Future>::poll",
        r"<alloc::boxed::Box<.*> as core::future::future::Future>::poll",
        # Thread entry: std's spawn trampolines, libc's thread start, the clone syscall wrapper.
        r"<?std::sys::.*",
        r"<?std::sys_common::.*",
        r"<?std::rt::.*",
        r"<?std::thread::(Builder|local|lifecycle|Thread)::.*",
        r"std::thread::local::.*",
        r".*__rust_begin_short_backtrace.*",
        r".*__rust_try",
        r"start_thread",
        r"clone3?",
        r"__clone3?",
        r"thread_start",
    ),
)


def thread_root_frame(thread_name: str) -> Frame:
    """The synthetic root frame that names the thread a stack ran on."""
    return Frame(function=thread_name, module=THREAD_MODULE, kind=USER)


def _task_root(frames: list[Frame], rules: FrameRules) -> int | None:
    """Index of the outermost async frame that is not executor machinery."""
    for i in range(len(frames) - 1, -1, -1):
        frame = frames[i]
        name = frame.function
        if frame.is_async and not rules.is_runtime(name) and not rules.drops(name):
            return i
    return None


def fold_executor_frames(
    frames: list[Frame], rules: FrameRules = TOKIO_RULES, thread_name: str | None = None
) -> list[Frame]:
    """Fold executor frames out of a leaf-first stack (see the module docstring).

    Frames between the root and the task root are cut when one of them is a ``runtime`` frame
    (with no task on the stack, those rootward of the innermost ``runtime`` frame);
    ``drop`` frames are removed anywhere; ``keep`` frames always stay. With ``thread_name``, a root
    frame naming the thread is appended (a stack that already ends with it is left alone).
    """
    out = list(frames)
    root = _task_root(out, rules)
    if root is None:
        # No task on this stack (an idle worker parking, the blocking pool waiting): keep the
        # leaf up to the innermost executor frame, which says what the thread is waiting in.
        root = next((i for i, f in enumerate(out) if rules.is_runtime(f.function)), None)
    if root is not None and any(rules.is_runtime(f.function) for f in out[root:]):
        out = out[: root + 1] + [f for f in out[root + 1 :] if rules.keeps(f.function)]
    out = [f for f in out if not rules.drops(f.function)]
    if thread_name and not (
        out and out[-1].module == THREAD_MODULE and out[-1].function == thread_name
    ):
        out.append(thread_root_frame(thread_name))
    return out
