"""User-space composition of spawn links, from synthetic logical stacks (no root needed)."""

from __future__ import annotations

from profiler.frames.folding import THREAD_MODULE, thread_root_frame
from profiler.frames.model import Frame
from profiler.frames.spawn_links import (
    SPAWN_FUNCTION,
    SPAWN_MODULE,
    SpawnLinker,
    link_spawned_stack,
    spawner_part,
    symbolize_spawn_stack,
)


def fn(name: str, is_async: bool = False, address: int = 0) -> Frame:
    return Frame(function=name, is_async=is_async, address=address)


def names(frames: list[Frame]) -> list[str]:
    """Root first, for reading."""
    return [f.function for f in reversed(frames)]


WORKER = thread_root_frame("tokio-runtime-w")
TASK = [fn("tokio_app::crunch_more"), fn("tokio_app::background", True), WORKER]
HANDLER_SPAWNS = [
    fn("tokio::task::spawn::spawn_inner"),
    fn("tokio::task::spawn::spawn"),
    fn("tokio_app::handler", True),
]
MAIN_SPAWNS = [fn("tokio::runtime::scheduler::Handle::spawn"), fn("tokio_app::main", True)]


def test_the_spawner_goes_under_the_task_root_and_the_thread_stays_the_root():
    linked = link_spawned_stack(TASK, [HANDLER_SPAWNS])
    assert names(linked) == [
        "tokio-runtime-w",
        "tokio_app::handler",
        SPAWN_FUNCTION,
        "tokio_app::background",
        "tokio_app::crunch_more",
    ]
    spawn = next(f for f in linked if f.function == SPAWN_FUNCTION)
    assert spawn.module == SPAWN_MODULE and not spawn.is_async
    assert linked[-1].module == THREAD_MODULE


def test_a_chain_of_spawners_nearest_first():
    linked = link_spawned_stack(TASK, [HANDLER_SPAWNS, MAIN_SPAWNS])
    assert names(linked)[:5] == [
        "tokio-runtime-w",
        "tokio_app::main",
        SPAWN_FUNCTION,
        "tokio_app::handler",
        SPAWN_FUNCTION,
    ]


def test_the_chain_stops_at_an_unknown_spawner():
    only_machinery = [fn("tokio::task::spawn::spawn")]
    assert link_spawned_stack(TASK, [HANDLER_SPAWNS, only_machinery, MAIN_SPAWNS]) == (
        link_spawned_stack(TASK, [HANDLER_SPAWNS])
    )
    assert link_spawned_stack(TASK, [[]]) == TASK


def test_stacks_without_a_task_are_not_linked():
    parked = [fn("syscall"), fn("tokio::runtime::park::Inner::park"), WORKER]
    assert link_spawned_stack(parked, [HANDLER_SPAWNS]) == parked
    assert link_spawned_stack(TASK, []) == TASK


def test_spawner_part_drops_the_spawn_call_and_the_thread_root():
    part = spawner_part([*HANDLER_SPAWNS, thread_root_frame("main")])
    assert names(part) == ["tokio_app::handler"]
    # A spawner frame that is not tokio's stays, wherever it is.
    user_leaf = [fn("my_app::spawn_helper"), fn("tokio::task::spawn::spawn")]
    assert names(spawner_part(user_leaf)) == ["tokio::task::spawn::spawn", "my_app::spawn_helper"]


class RecordingSymbolizer:
    """Names each address ``f<addr>``; async when the address is odd. Records lookups."""

    def __init__(self):
        self.looked_up: list[tuple[int, int]] = []

    def user_frames(self, pid, addr):
        self.looked_up.append((pid, addr))
        return [fn(f"app::f{addr:x}::{{{{closure}}}}" if addr % 2 else f"app::f{addr:x}", False)]


def test_spawn_stacks_are_looked_up_inside_the_call():
    sym = RecordingSymbolizer()
    frames = symbolize_spawn_stack(sym, 7, [0x101, 0x205])
    assert sym.looked_up == [(7, 0x100), (7, 0x204)]
    assert [f.function for f in frames] == ["app::f100", "app::f204"]


def test_linker_resolves_caches_and_forgets():
    sym = RecordingSymbolizer()
    stacks = {3: (0x102,), 5: (0x1000,)}  # -> app::f101::{{closure}} (async), app::ffff
    asked: list[int] = []

    def stack_of(stack_id):
        asked.append(stack_id)
        return stacks.get(stack_id, ())

    linker = SpawnLinker(sym, stack_of, mode="on")
    linked = linker.link(TASK, 42, (3, 5, -1, -1))
    assert names(linked) == [
        "tokio-runtime-w",
        "app::ffff",
        SPAWN_FUNCTION,
        "app::f101",
        SPAWN_FUNCTION,
        "tokio_app::background",
        "tokio_app::crunch_more",
    ]
    assert linker.link(TASK, 42, (3, 5, -1, -1)) == linked
    assert asked == [3, 5]  # the second link came from the cache
    linker.forget_process(42)
    linker.link(TASK, 42, (3, -1, -1, -1))
    assert asked == [3, 5, 3]
    # An id whose stack is gone (or negative) ends the chain.
    assert linker.link(TASK, 42, (9, 3, -1, -1)) == TASK
