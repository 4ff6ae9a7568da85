"""Spawn links: put the stack that spawned a task under the task's logical stack.

A Tokio task runs from a worker thread's scheduler loop, so its logical stack starts at the task
root (``worker → background → crunch_more``); who spawned it is lost. With the spawner's stack
recorded at ``tokio::spawn`` (see :mod:`profiler.bpf.spawn_tracker`), the stack becomes

    worker → handler → [spawn] → background → crunch_more

and, with the spawner's own spawn link, ``worker → main → [spawn] → handler → [spawn] → ...``.
The thread the sample ran on stays the root; the spawner's thread is not known (the tracker keeps
stack ids only), and its executor frames are folded away like the task's.

All stacks here are leaf first, as everywhere in the profiler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .async_stacks import Mode, apply_async_stacks
from .folding import THREAD_MODULE, TOKIO_RULES, FrameRules
from .model import Frame, Module

SPAWN_MODULE = Module("[spawn]")
SPAWN_FUNCTION = "[spawn]"

# Leaf-side frames of a spawner's stack that are the spawn call itself, not the spawner.
SPAWN_MACHINERY = re.compile(
    r"<?tokio::(?:task::spawn|runtime|util::trace|task::join_set|loom)::.*|<?tokio::spawn.*"
)


def spawn_frame() -> Frame:
    """The synthetic frame between a task's root and the stack that spawned it."""
    return Frame(function=SPAWN_FUNCTION, module=SPAWN_MODULE)


def _without_thread_root(frames: list[Frame]) -> tuple[list[Frame], Frame | None]:
    if frames and frames[-1].module == THREAD_MODULE:
        return frames[:-1], frames[-1]
    return frames, None


def spawner_part(frames: list[Frame]) -> list[Frame]:
    """A spawner's logical stack without its thread root and the spawn call at its leaf."""
    frames, _root = _without_thread_root(list(frames))
    start = 0
    while start < len(frames) and SPAWN_MACHINERY.fullmatch(frames[start].function):
        start += 1
    return frames[start:]


def link_spawned_stack(task: list[Frame], spawners: Sequence[list[Frame]]) -> list[Frame]:
    """``task`` (a logical stack) with its spawners' logical stacks under it (nearest first).

    Each spawner is reduced by :func:`spawner_part` and joined with a ``[spawn]`` frame; the
    chain stops at the first empty spawner. The task's thread root stays the root. A stack with
    no async frame (the worker between polls, a parked thread) is returned unchanged: a link
    means something only under a task.
    """
    if not spawners or not any(f.is_async for f in task):
        return task
    body, root = _without_thread_root(list(task))
    for spawner in spawners:
        part = spawner_part(spawner)
        if not part:
            break
        body.append(spawn_frame())
        body.extend(part)
    if root is not None:
        body.append(root)
    return body


def symbolize_spawn_stack(symbolizer: object, pid: int, addresses: Sequence[int]) -> list[Frame]:
    """Frames of a spawner's stack (taken at a return probe: every address is a return address,
    so each is looked up at ``addr - 1``, inside the call)."""
    frames: list[Frame] = []
    for addr in addresses:
        frames.extend(symbolizer.user_frames(pid, addr - 1))
    return frames


class SpawnLinker:
    """Resolves spawn chains (stack ids) to logical spawner stacks, cached, and links them.

    ``stack_of(stack_id)`` returns the spawner's addresses (e.g.
    :meth:`profiler.bpf.spawn_tracker.SpawnTracker.spawn_stack`); ``symbolizer`` follows the
    :class:`profiler.symbolize.Symbolizer` contract.
    """

    def __init__(
        self,
        symbolizer: object,
        stack_of: Callable[[int], Sequence[int]],
        mode: Mode = "auto",
        rules: FrameRules = TOKIO_RULES,
        max_cached: int = 4096,
    ) -> None:
        self.symbolizer = symbolizer
        self.stack_of = stack_of
        self.mode = mode
        self.rules = rules
        self.max_cached = max_cached
        self._cache: dict[tuple[int, int], list[Frame]] = {}

    def spawner(self, pid: int, stack_id: int) -> list[Frame]:
        """The logical stack (no thread root) that spawned a task; ``[]`` when unknown."""
        if stack_id < 0:
            return []
        key = (pid, stack_id)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            native = symbolize_spawn_stack(self.symbolizer, pid, self.stack_of(stack_id))
            found = apply_async_stacks(native, None, mode=self.mode, rules=self.rules)
            self._cache[key] = found
        return found

    def link(self, frames: list[Frame], pid: int, chain: Sequence[int]) -> list[Frame]:
        """``frames`` (a sample's logical stack) linked to the spawners named by ``chain``."""
        spawners = []
        for stack_id in chain:
            spawner = self.spawner(pid, stack_id)
            if not spawner:
                break
            spawners.append(spawner)
        return link_spawned_stack(frames, spawners)

    def forget_process(self, pid: int) -> None:
        """Drop cached spawner stacks of ``pid`` (it exited; its pid may be reused)."""
        for key in [k for k in self._cache if k[0] == pid]:
            del self._cache[key]
