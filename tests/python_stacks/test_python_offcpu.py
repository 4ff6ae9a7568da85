"""CPython frames in off-CPU profiles: the walk runs at a Python thread's switch-out too.

The workload (``workload.py naps``) sleeps 3 ms in ``nap_long`` and 1 ms in ``nap_short`` in
turn and measures the time it spends in each; the off-CPU profile must name the Python path of
(nearly) all of the main thread's blocked time and split it between the two as measured.
"""

from __future__ import annotations

import pytest

from profiler.bpf.offcpu_options import OffCpuOptions

from . import interpreters as I
from .live import profile_workload, python_path, samples_of

pytestmark = pytest.mark.bpf

NAP_PATH = ("<module>", "main", "napper")


@pytest.mark.parametrize("which", ["debian-3.11", "chroot-3.13"], ids=str)
def test_off_cpu_time_carries_the_python_path(which):
    interp = (
        I.require(I.DEBIAN_311)
        if which == "debian-3.11"
        else I.require(I.chrooted(I.debian_roots.PYTHON313))
    )
    profile, info, pid = profile_workload(interp, "naps", 2, off_cpu=OffCpuOptions())
    blocked = {"nap_long": 0, "nap_short": 0}
    total = 0
    for s in samples_of(profile, pid, info["main_tid"]):
        total += s.off_cpu_ns
        path = python_path(s.frames)
        if path[:3] == NAP_PATH and len(path) == 4 and path[3] in blocked:
            blocked[path[3]] += s.off_cpu_ns
    named = sum(blocked.values())
    spent = info["naps_s"]
    assert total > 0.5e9 * sum(spent.values()), f"{total / 1e9:.2f} s off-CPU recorded"
    assert named >= 0.95 * total, f"{named / 1e9:.3f} of {total / 1e9:.3f} s named"
    measured = 100 * spent["nap_long"] / sum(spent.values())
    profiled = 100 * blocked["nap_long"] / named
    assert abs(profiled - measured) <= 3, f"nap_long {profiled:.1f} % (measured {measured:.1f} %)"
    assert profile.kernel_stats.python["stacks"] > 0
