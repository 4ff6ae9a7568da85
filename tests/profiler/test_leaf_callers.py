"""Frame-pointer stacks without holes: the caller of a frameless leaf is recovered (issue 12.8).

``leaves.c`` built ``-O1 -fno-omit-frame-pointer``: GCC gives its leaves no frame, so the plain
frame-pointer walk reads ``run -> leaf`` for ``run -> mix_a -> leaf_add``. The default
``--unwind auto`` must show each leaf's caller on at least 99 % of the leaf's samples; the same
run without the recovery is the control that shows the hole is real.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from pprof_encoder import parse
from profiler import SamplingOptions, Session, SessionOptions, Targets
from tests.support import require_tool

from . import workloads
from .profiles import load, stacks_of, user_part
from .test_profile_live import run_cli

pytestmark = pytest.mark.bpf

# leaf -> its caller in leaves.c (memchr is the C library's, reached through the PLT).
CALLERS = {"leaf_add": "mix_a", "leaf_xor": "mix_b", "memchr": "scan"}


@pytest.fixture(scope="module")
def leaves() -> str:
    require_tool("gcc")
    return workloads.build("leaves", "-O1", "-g", "-fno-omit-frame-pointer")


def _leaf(frame: str) -> str:
    """``__memchr_evex`` and its siblings are the C library's memchr."""
    return "memchr" if "memchr" in frame and "plt" not in frame else frame


def _with_callers(stacks: Counter) -> tuple[Counter, Counter]:
    """Samples per leaf, and those whose next frame is the leaf's caller."""
    per_leaf: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for stack, count in stacks.items():
        user = user_part(stack)
        if not user or _leaf(user[0]) not in CALLERS:
            continue
        leaf = _leaf(user[0])
        per_leaf[leaf] += count
        if len(user) > 1 and user[1] == CALLERS[leaf] and "run" in user:
            right[leaf] += count
    return per_leaf, right


def test_auto_shows_the_caller_of_every_frameless_leaf(tmp_path, leaves):
    work = workloads.start(leaves, "30")
    try:
        out = tmp_path / "leaves.pb.gz"
        res = run_cli("--pid", str(work.pid), "-d", "4", "--freq", "997", "-o", str(out), "-q")
        assert res.returncode == 0, res.stderr
    finally:
        work.kill()
    stacks = stacks_of(load(str(out)), work.pid)
    per_leaf, right = _with_callers(stacks)
    assert set(per_leaf) == set(CALLERS), stacks.most_common(6)
    for leaf, count in per_leaf.items():
        assert count >= 20, f"{leaf}: {count} samples; {stacks.most_common(6)}"
        assert right[leaf] >= 0.99 * count, (
            f"{leaf}: {right[leaf]} of {count} samples show {CALLERS[leaf]}; "
            f"{stacks.most_common(6)}"
        )


def test_without_the_recovery_the_frame_pointer_walk_skips_the_caller(leaves):
    work = workloads.start(leaves, "30")
    try:
        options = SessionOptions(
            Targets(pids=(work.pid,)),
            SamplingOptions(freq=997, unwind="fp", leaf_callers=False),
        )
        with Session(options) as session:
            session.start()
            threading.Event().wait(2)
            profile = session.stop()
    finally:
        work.kill()
    stacks = stacks_of(parse(profile.encode("pprof")), work.pid)
    per_leaf, right = _with_callers(stacks)
    in_own_leaves = per_leaf["leaf_add"] + per_leaf["leaf_xor"]
    assert in_own_leaves >= 40, stacks.most_common(6)
    assert right["leaf_add"] + right["leaf_xor"] <= 0.05 * in_own_leaves, stacks.most_common(6)
