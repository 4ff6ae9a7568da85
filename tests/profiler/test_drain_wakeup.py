"""Drains are paced by the interval, and by the program when a counts map fills up half way."""

from __future__ import annotations

import subprocess
import sys

import pytest

from profiler.bpf.options import SamplingOptions
from profiler.bpf.sampler import Sampler
from tests.support import thread_count, wait_for

pytestmark = pytest.mark.bpf

THREADS = r"""
import threading
def spin():
    while True:
        sum(range(100))
for _ in range(%d):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


def busy_threads(n: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", THREADS % n], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    wait_for(lambda: thread_count(proc.pid) > n)
    return proc


def test_a_half_full_counts_map_wakes_the_drain(no_fd_leak):
    # 40 threads: 40 distinct keys (tid is in the key) against a 32-entry map (wake at 16).
    proc = busy_threads(40)
    try:
        options = SamplingOptions(freq=999, counts_map_size=32, user_stacks=False, unwind="fp")
        with Sampler(options, pids=[proc.pid]) as sampler:
            assert sampler.wait_for_filling(30)  # woken long before a drain interval would end
            assert len(sampler.drain()) >= 16  # the keys that filled it, there to drain
    finally:
        proc.kill()
        proc.wait()


def test_a_map_far_from_full_lets_the_drain_sleep(no_fd_leak):
    proc = busy_threads(1)
    try:
        options = SamplingOptions(freq=999, counts_map_size=1024, user_stacks=False, unwind="fp")
        with Sampler(options, pids=[proc.pid]) as sampler:
            assert not sampler.wait_for_filling(1.0)  # two keys at most: no wake-up
            assert sampler.drain()  # and yet it was sampling
    finally:
        proc.kill()
        proc.wait()
