"""Async-aware stacks: recognise Rust async bodies in native frames and name them by their fn.

A Rust ``async fn compute`` compiles to a state machine whose ``poll`` is the fn's body; symbol
tables and DWARF name it after the fn with a closure-like suffix:

- legacy mangling, demangled: ``tokio_app::compute::{{closure}}``
- v0 mangling, demangled: ``tokio_app::compute::{closure#0}``
- DWARF: ``tokio_app::compute::{async_fn#0}``, ``...::{async_block#0}``
- older rustc: ``<GenFuture<T> as Future>::poll`` (``core::future::from_generator``) wrapping
  the body, and ``<X as core::future::future::Future>::poll`` for hand-written futures.

``rename_async_frames`` maps each such frame to its async fn (``tokio_app::compute``) and marks it
``is_async``; ``collapse_async_duplicates`` merges the neighbours a poll chain produces;
``apply_async_stacks`` does both and folds the executor away (``profiler.frames.folding``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from .folding import TOKIO_RULES, FrameRules, fold_executor_frames
from .model import Frame

# One closure-like path component: what rustc names an async body, async block or closure.
_BODY = r"\{\{closure\}\}|\{(?:closure|async_fn|async_block|async_closure|coroutine)#\d+\}"
_TRAILING_BODIES = re.compile(rf"(?:::(?:{_BODY}))+$")
# Symbol suffixes that are not part of the name: legacy hash, LLVM's local-symbol suffix.
_SUFFIXES = re.compile(r"(?:::h[0-9a-f]{16})?(?:\.llvm\.\d+| \(\.llvm\.\d+\))?$")
_FUTURE_POLL = re.compile(r"^<(?P<type>.+) as core::future::future::Future>::poll$")
# Generic adapters whose poll only forwards to the future inside them.
_FORWARDING_FUTURE = re.compile(
    r"^(?:core::future::from_generator::GenFuture|core::pin::Pin|alloc::boxed::Box"
    r"|core::panic::unwind_safe::AssertUnwindSafe|&mut )"
)
_GENFUTURE_POLL = re.compile(r"^core::future::from_generator::GenFuture<(?P<arg>.*)>::poll$")

Mode = Literal["auto", "on", "off"]


def _strip_suffixes(name: str) -> str:
    return _SUFFIXES.sub("", name)


def async_function_of(name: str) -> str | None:
    """The async fn a frame called ``name`` belongs to, or ``None`` if it is no async body.

    ``tokio_app::compute::{async_fn#0}`` -> ``tokio_app::compute``; a forwarding
    ``GenFuture<T>::poll`` with an unknown ``T`` gives ``""`` (it belongs to the body it polls).
    """
    name = _strip_suffixes(name)
    stripped = _TRAILING_BODIES.sub("", name)
    if stripped != name and stripped:
        return stripped
    match = _GENFUTURE_POLL.match(name)
    if match is not None:
        return async_function_of(match["arg"]) or ""
    match = _FUTURE_POLL.match(name)
    if match is not None:
        future = match["type"]
        inner = async_function_of(future)
        if inner:
            return inner
        if _FORWARDING_FUTURE.match(future):
            inside = re.search(r"<(.*)>", future)
            return (async_function_of(inside.group(1)) if inside else None) or ""
        return name  # a hand-written future: its poll is the async code
    return None


def rename_async_frames(frames: list[Frame]) -> list[Frame]:
    """Rename async-body frames (leaf first) to their async fn and mark them ``is_async``.

    A forwarding poll (``GenFuture<T>::poll``) takes the name of the async frame just inside it
    (its leaf-side neighbour), so that ``collapse_async_duplicates`` merges the two.
    """
    out: list[Frame] = []
    for frame in frames:
        function = async_function_of(frame.function)
        if function is None:
            out.append(frame)
            continue
        if function == "":
            if not (out and out[-1].is_async):
                out.append(replace(frame, is_async=True))
                continue
            function = out[-1].function
        out.append(replace(frame, function=function, is_async=True))
    return out


def collapse_async_duplicates(frames: list[Frame]) -> list[Frame]:
    """Merge runs of neighbouring async frames of the same fn (what a poll chain produces).

    The merged frame keeps the innermost frame's file:line (where in the fn the time went) and the
    outermost frame's address and ``inlined`` flag (how it attaches to the frames below it).
    """
    out: list[Frame] = []
    for frame in frames:
        last = out[-1] if out else None
        if (
            last is not None
            and frame.is_async
            and last.is_async
            and last.function == frame.function
        ):
            out[-1] = replace(
                last,
                inlined=frame.inlined,
                address=frame.address,
                module=frame.module or last.module,
            )
            continue
        out.append(frame)
    return out


def apply_async_stacks(
    frames: list[Frame],
    thread_name: str | None,
    mode: Mode = "auto",
    rules: FrameRules = TOKIO_RULES,
) -> list[Frame]:
    """The logical async stack of a leaf-first native stack.

    ``mode="off"`` returns ``frames`` unchanged; ``"on"`` always transforms; ``"auto"`` transforms
    only stacks holding an executor frame (``rules.runtime``, Tokio's by default). Transforming
    means: rename async bodies to their fn, fold the executor machinery between the thread's entry
    and the task root away, put ``thread_name`` at the root, and merge duplicate async frames.
    """
    if mode == "off":
        return frames
    if mode not in ("auto", "on"):
        raise ValueError(f"async stacks mode must be 'auto', 'on' or 'off', not {mode!r}")
    if mode == "auto" and not any(rules.is_runtime(f.function) for f in frames):
        return frames
    renamed = rename_async_frames(frames)
    folded = fold_executor_frames(renamed, rules, thread_name)
    return collapse_async_duplicates(folded)
