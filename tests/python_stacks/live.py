"""Running the workload under a real profiling session, and reading Python paths out of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter

from profiler.frames.model import PYTHON
from profiler.session import SamplingOptions, Session, SessionOptions, Targets

from .interpreters import Interp

WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.py")
TREE_PATHS = {
    ("<module>", "main", "handler", "leaf_a", "spin"): "leaf_a",
    ("<module>", "main", "handler", "leaf_b", "spin"): "leaf_b",
}


def profile_workload(
    interp: Interp,
    mode: str,
    seconds: float,
    *,
    freq: int = 997,
    interpreter_args: tuple[str, ...] = (),
    python: str = "auto",
    **options,
):
    """Profile the workload by pid from before it starts working until it exits.

    ``options``: other :class:`SessionOptions` fields. Returns (profile, the workload's JSON
    summary, its pid).
    """
    with interp.script_dir() as (outer, inner):
        shutil.copyfile(WORKLOAD, os.path.join(outer, "workload.py"))
        argv = [*interp.argv, *interpreter_args, os.path.join(inner, "workload.py")]
        child = subprocess.Popen(
            [*argv, mode, str(seconds)], stdin=-1, stdout=-1, text=True, cwd=outer
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            session = Session(by_pid(child.pid, freq, python=python, **options))
            with session:
                session.start()
                child.stdin.write("go\n")
                child.stdin.flush()
                info = json.loads(child.stdout.readline())
                child.wait(timeout=60)
                profile = session.stop()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return profile, info, child.pid


def by_pid(pid: int, freq: int = 997, *, python: str = "auto", **options) -> SessionOptions:
    """Session options to profile ``pid`` at ``freq`` Hz (``options``: more fields)."""
    return SessionOptions(
        targets=Targets(pids=(pid,)),
        sampling=SamplingOptions(freq=freq, python=python),
        **options,
    )


def python_path(frames) -> tuple[str, ...]:
    """The Python frames of a stack, root first."""
    return tuple(f.function for f in reversed(frames) if f.kind == PYTHON)


def samples_of(profile, pid: int, tid: int | None = None):
    """The samples of ``pid`` (and thread ``tid``)."""
    return [
        s
        for s in profile.samples
        if s.labels.get("pid") == pid and (tid is None or s.labels.get("tid") == tid)
    ]


def tree_report(profile, pid: int, tid: int | None) -> tuple[int, int, Counter]:
    """(samples of the thread (None: of every thread), samples with a whole known path, count
    per leaf)."""
    total = whole = 0
    leaves: Counter[str] = Counter()
    for s in samples_of(profile, pid, tid):
        total += s.count
        leaf = TREE_PATHS.get(python_path(s.frames))
        if leaf is not None:
            whole += s.count
            leaves[leaf] += s.count
    return total, whole, leaves
