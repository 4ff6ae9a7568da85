"""The point of exec events: a process that lives 0.3 s keeps its symbols after it exits.

A deferred exec callback snapshots the process once ld.so has mapped libc; after the process has
exited, addresses in its executable and in libc still symbolize.
"""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from profiler.process.events.deferred import DeferredSnapshots
from profiler.process.events.watcher import ExecEvent, ExitEvent, ProcessEvents
from profiler.process.maps import ProcessMaps
from profiler.symbolize import Symbolizer
from tests.support import require_tool

pytestmark = pytest.mark.bpf

SHORT_LIVED_C = r"""
#include <stdio.h>
#include <time.h>

__attribute__((noinline)) void marker_function(void) { __asm__ volatile(""); }

int main(void) {
    struct timespec pause = {0, 300 * 1000 * 1000};
    /* &nanosleep is libc's own address (through the GOT in a PIE), not a PLT stub. */
    printf("%p %p\n", (void *)marker_function, (void *)nanosleep);
    fflush(stdout);
    marker_function();
    nanosleep(&pause, NULL);
    return 0;
}
"""


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory) -> str:
    gcc = require_tool("gcc")
    out = tmp_path_factory.mktemp("proc_events")
    src, exe = out / "short_lived.c", out / "short_lived"
    src.write_text(SHORT_LIVED_C)
    subprocess.run([gcc, "-O1", "-g", "-o", str(exe), str(src)], check=True)
    return str(exe)


# load_symbols=False is what the session does (symbol tables load when first needed).
@pytest.mark.parametrize("load_symbols", [True, False])
def test_deferred_exec_snapshot_has_executable_and_libc_and_outlives_the_process(
    short_lived, no_fd_leak, load_symbols
):
    sym = Symbolizer()
    snapshots: dict[int, ProcessMaps] = {}
    snapshotted = threading.Event()

    def snapshot(pids: list[int]) -> None:
        for pid in pids:
            try:
                if os.readlink(f"/proc/{pid}/exe") != short_lived:
                    continue
                snapshots[pid] = ProcessMaps.read(pid)
            except OSError:
                continue  # exited before its turn
            assert sym.snapshot(pid, load_symbols=load_symbols)
            snapshotted.set()

    def on_event(event) -> None:
        if isinstance(event, ExecEvent):
            deferred.schedule(event.tgid)
        elif isinstance(event, ExitEvent):
            deferred.cancel(event.tgid)

    with (
        DeferredSnapshots(snapshot, delay_s=0.05) as deferred,
        ProcessEvents() as events,
    ):
        events.start(on_event)
        child = subprocess.Popen([short_lived], stdout=subprocess.PIPE, text=True)
        marker, libc_fn = (int(a, 16) for a in child.stdout.readline().split())
        child.stdout.close()
        assert child.wait() == 0
        assert snapshotted.wait(10), "the deferred exec callback never snapshotted the child"
    assert deferred.error is None and events.error is None

    snap = snapshots[child.pid]
    paths = {m.path for m in snap.mappings}
    assert short_lived in paths
    assert any(os.path.basename(p).startswith("libc") for p in paths), paths
    assert snap.find(marker) is not None and snap.find(libc_fn) is not None

    # The process is gone; its symbols are not.
    assert not os.path.exists(f"/proc/{child.pid}")
    assert sym.user_frames(child.pid, marker)[-1].function == "marker_function"
    libc_frame = sym.user_frames(child.pid, libc_fn)[-1]
    assert "nanosleep" in libc_frame.function and "libc" in libc_frame.module_path
    sym.close()
