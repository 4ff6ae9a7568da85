"""CPython frames from the real sampler on real interpreters (host and chroot), by pid and on
the whole machine.

The workload (``workload.py``) slices its CPU with its own thread clock, so the expected shares
hold whatever else loads the machine. At 997 Hz, 5 s give ~5 000 samples of the workload: a 25 %
share then has a standard error of 0.6 points, and the ±3 points allowed are ~5 of them.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from profiler.frames.model import PYTHON
from profiler.session import SamplingOptions, Session, SessionOptions
from tests.conftest import bpf_objects_held_by
from tests.support import require_tool, wait_for

from . import interpreters as I
from .live import WORKLOAD, by_pid, profile_workload, python_path, samples_of, tree_report

pytestmark = pytest.mark.bpf

MIN_WHOLE = 0.95
SHARE_TOLERANCE = 3.0


def _check_tree(interp: I.Interp, seconds: float = 5, **options) -> tuple:
    profile, info, pid = profile_workload(interp, "tree", seconds, **options)
    total, whole, leaves = tree_report(profile, pid, info["main_tid"])
    expected = info["cpu"] * 997
    assert total > 0.6 * expected, f"{interp.name}: {total} samples of ~{expected:.0f} expected"
    assert whole >= MIN_WHOLE * total, f"{interp.name}: {whole} of {total} have the whole path"
    share_a = 100 * leaves["leaf_a"] / whole
    assert abs(share_a - 75) <= SHARE_TOLERANCE, f"{interp.name}: leaf_a {share_a:.1f} %"
    return profile, info, pid


def test_debian_311_by_pid():
    """Done-when: CPython 3.11 (Debian's static build, no frame pointers), 5 s at 997 Hz."""
    profile, _, _ = _check_tree(I.require(I.DEBIAN_311))
    assert not bpf_objects_held_by(os.getpid())
    stats = profile.kernel_stats.python
    assert stats["walks"] > 0 and stats["stacks"] > 0.9 * stats["walks"]


def test_debian_313_in_a_chroot_by_pid():
    """Done-when: CPython 3.13 inside a Debian root (the container path), 5 s at 997 Hz."""
    _check_tree(I.require(I.chrooted(I.debian_roots.PYTHON313)))


@pytest.mark.parametrize(
    "which", ["pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "chroot-3.14"], ids=str
)
def test_other_interpreters(which):
    """The dynamically linked builds (libpython3.X.so) and 3.14: shorter runs, same checks."""
    interp = {
        "pyenv-3.11": lambda: I.require(I.PYENV_311),
        "pyenv-3.12": lambda: I.require(I.PYENV_312),
        "pyenv-3.13": lambda: I.require(I.PYENV_313),
        "chroot-3.14": lambda: I.require(I.chrooted(I.debian_roots.PYTHON314)),
    }[which]()
    _check_tree(interp, seconds=3)


@pytest.mark.parametrize("which", ["debian-3.11", "pyenv-3.12"], ids=str)
def test_callback_under_a_c_call_sits_under_its_python_caller(which):
    """``sorted(key=key_func)``: key_func under the C sort, under handler (the caller)."""
    interp = I.require(I.DEBIAN_311 if which == "debian-3.11" else I.PYENV_312)
    profile, info, pid = profile_workload(interp, "callback", 2)
    in_key = with_c = named_sort = 0
    for s in samples_of(profile, pid, info["main_tid"]):
        path = python_path(s.frames)
        if "key_func" not in path:
            continue
        in_key += s.count
        assert path[:5] == ("<module>", "main", "sort_handler", "key_func", "spin")[: len(path)]
        root_first = [f.function for f in reversed(s.frames)]
        between = root_first[root_first.index("sort_handler") + 1 : root_first.index("key_func")]
        if between and all(f.kind != PYTHON for f in s.frames if f.function in between):
            with_c += s.count
            # Symbols of its static functions: the sort is named (a native frame-pointer
            # stack can skip the caller of a frameless function in the middle: not on all).
            named_sort += s.count * ("builtin_sorted" in between and "list_sort" in between)
    assert in_key > 100
    assert with_c >= 0.95 * in_key, f"{with_c} of {in_key} keep the C call between"
    if which == "pyenv-3.12":
        assert named_sort >= 0.95 * in_key, f"{named_sort} of {in_key} name the sort between"


def test_x_perf_reads_the_same_as_without():
    """3.12 ``-X perf``: the trampolines and their call plumbing disappear from the stacks."""
    interp = I.require(I.PYENV_312)

    def shapes(args):
        profile, info, pid = profile_workload(interp, "tree", 2, interpreter_args=args)
        out = set()
        for s in samples_of(profile, pid, info["main_tid"]):
            names = [f.function for f in reversed(s.frames)]
            if "spin" in names and "_start" in names:
                out.add(tuple(names[: names.index("spin") + 1]))
        assert all(
            not n.startswith("py::")
            for s in profile.samples
            for n in (f.function for f in s.frames)
        )
        return out

    plain, perf = shapes(()), shapes(("-X", "perf"))
    assert plain and plain == perf


def test_thread_started_mid_profile_is_named():
    interp = I.require(I.DEBIAN_311)
    profile, info, pid = profile_workload(interp, "thread", 4.5, drain_interval=0.5)
    late = samples_of(profile, pid, info["late_tid"])
    total = sum(s.count for s in late)
    named = sum(s.count for s in late if python_path(s.frames)[-2:] == ("late_work", "spin"))
    assert total > 200
    # Its first drain interval (0.5 s of 3) may go unnamed; everything after is named.
    assert named >= 0.75 * total, f"{named} of {total} samples of the late thread named"


def test_process_that_exits_mid_profile_keeps_its_names():
    interp = I.require(I.DEBIAN_311)
    with interp.script_dir() as (outer, inner):
        import shutil

        shutil.copyfile(WORKLOAD, os.path.join(outer, "workload.py"))
        child = subprocess.Popen(
            [*interp.argv, os.path.join(inner, "workload.py"), "tree", "1.5"],
            stdin=-1,
            stdout=-1,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        with Session(by_pid(child.pid)) as session:
            session.start()
            child.stdin.write("go\n")
            child.stdin.flush()
            cpu = json.loads(child.stdout.readline())["cpu"]
            child.wait(timeout=30)
            # Its exit was handled (its last samples symbolized, then the process forgotten):
            # the drains after its exit named its Python frames from what was read before.
            wait_for(lambda: not session.registry.known(child.pid), what="the exit handled")
            profile = session.stop()
    mine = samples_of(profile, child.pid)
    total = sum(s.count for s in mine)
    named = sum(s.count for s in mine if python_path(s.frames)[-1:] == ("spin",))
    assert total > 0.6 * cpu * 997, f"{total} samples for {cpu:.2f} s of CPU"
    assert named >= 0.95 * total, f"{named} of {total} samples of the exited process named"


def test_whole_machine_names_every_cpython_process():
    """Two CPython processes (3.11 on the host, 3.14 in a chroot), a whole-machine session."""
    host = I.require(I.DEBIAN_311)
    chroot = I.require(I.chrooted(I.debian_roots.PYTHON314))
    children = []
    with host.script_dir() as (h_out, h_in), chroot.script_dir() as (c_out, c_in):
        import shutil

        for interp, outer, inner in ((host, h_out, h_in), (chroot, c_out, c_in)):
            shutil.copyfile(WORKLOAD, os.path.join(outer, "workload.py"))
            child = subprocess.Popen(
                [*interp.argv, os.path.join(inner, "workload.py"), "tree", "3"],
                stdin=-1,
                stdout=-1,
                text=True,
            )
            assert child.stdout.readline().strip() == "ready"
            children.append(child)
        try:
            with Session(SessionOptions(sampling=SamplingOptions(freq=199))) as session:
                session.start()
                for child in children:
                    child.stdin.write("go\n")
                    child.stdin.flush()
                cpu = {}
                for child in children:
                    cpu[child.pid] = json.loads(child.stdout.readline())["cpu"]
                    child.wait(timeout=30)
                profile = session.stop()
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    for child in children:
        mine = samples_of(profile, child.pid)
        total = sum(s.count for s in mine)
        entry = ("<module>", "main", "handler")
        named = sum(s.count for s in mine if python_path(s.frames)[:3] == entry)
        assert total > 0.5 * cpu[child.pid] * 199, f"pid {child.pid}: {total} samples"
        assert named >= 0.9 * total, f"pid {child.pid}: {named} of {total} named"


def test_gil_and_gc_labels():
    """``python_gil``: the hashing thread (GIL released in C) vs the spinning one (held);
    ``python_gc``: samples under ``collect_cycles`` (gc.collect) say the interpreter collects,
    samples in ``spin`` (no container allocated) do not."""
    interp = I.require(I.DEBIAN_311)
    profile, info, pid = profile_workload(interp, "gil", 3)

    def count(tid, leaf, label, value):
        total = hits = 0
        for s in samples_of(profile, pid, tid):
            if python_path(s.frames)[-1:] == (leaf,):
                total += s.count
                hits += s.count if s.labels.get(label) == value else 0
        return total, hits

    hashing, held = count(info["hasher_tid"], "hash_work", "python_gil", "held")
    assert hashing > 100 and held <= 0.1 * hashing, f"{held} of {hashing} hashing with the GIL"
    spinning, held = count(info["main_tid"], "spin", "python_gil", "held")
    assert spinning > 100 and held >= 0.9 * spinning, f"{held} of {spinning} spinning with it"
    _, spin_gc = count(info["main_tid"], "spin", "python_gc", "collecting")
    collecting, in_gc = count(info["main_tid"], "collect_cycles", "python_gc", "collecting")
    assert spin_gc <= 0.02 * spinning, f"{spin_gc} of {spinning} spinning samples in GC"
    assert collecting > 10 and in_gc >= 0.5 * collecting, f"{in_gc} of {collecting} in GC"


def test_deep_stack_is_cut_and_counted():
    """300 Python frames: the walk keeps the 128 nearest the leaf and counts the cut."""
    from profiler.bpf.python_layouts import MAX_FRAMES

    interp = I.require(I.DEBIAN_311)
    profile, info, pid = profile_workload(interp, "deep", 1.5)
    spinning = [
        s
        for s in samples_of(profile, pid, info["main_tid"])
        if python_path(s.frames)[-1:] == ("spin",)
    ]
    assert sum(s.count for s in spinning) > 0.5 * info["cpu"] * 997
    for s in spinning:
        path = python_path(s.frames)
        assert len(path) == MAX_FRAMES and set(path[:-1]) == {"recurse"}
    assert profile.kernel_stats.python["cut"] >= sum(s.count for s in spinning)


def test_python_off_keeps_native_stacks():
    interp = I.require(I.DEBIAN_311)
    profile, info, pid = profile_workload(interp, "tree", 1, python="off")
    mine = samples_of(profile, pid, info["main_tid"])
    assert sum(s.count for s in mine) > 0.5 * info["cpu"] * 997
    assert not any(f.kind == PYTHON for s in mine for f in s.frames)
    assert not profile.kernel_stats.python


def test_a_process_in_a_pid_namespace_of_its_own():
    """A container's view: the interpreter numbers its threads in its own PID namespace (its
    main thread is 1 there); the kernel walk finds them by the host's ids (``NSpid``)."""
    host = I.require(I.DEBIAN_311)
    unshare = require_tool("unshare")
    ns = I.Interp("pidns-3.11", (unshare, "--pid", "--fork", "--mount-proc", *host.argv))
    profile, info, outer = profile_workload(ns, "tree", 3)
    assert info["main_tid"] == 1, "the workload did not run in a PID namespace of its own"
    inner = {s.labels["pid"] for s in profile.samples} - {outer}
    assert len(inner) == 1, f"samples of {inner}: one interpreter expected"
    total, whole, leaves = tree_report(profile, inner.pop(), tid=None)
    assert total > 0.6 * info["cpu"] * 997, f"{total} samples for {info['cpu']:.2f} s of CPU"
    assert whole >= MIN_WHOLE * total, f"{whole} of {total} have the whole path"
    assert abs(100 * leaves["leaf_a"] / whole - 75) <= SHARE_TOLERANCE
