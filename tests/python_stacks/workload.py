"""A Python workload with a known call tree and known CPU shares (run by the tests with each
interpreter, also inside Debian roots: standard library only).

Usage: ``workload.py MODE SECONDS``; it prints ``ready`` and waits for a line on stdin, so the
profiler can attach first, then works for SECONDS of wall time and prints a JSON summary.

Modes (CPU is sliced with the thread's own CPU clock, so shares hold however loaded the
machine is):

- ``tree``: ``<module> -> main -> handler -> leaf_a -> spin`` 75 % and ``... -> leaf_b -> spin``
  25 %.
- ``callback``: ``main -> handler -> sorted(key=key_func)``: the CPU is in ``key_func``, called
  from C.
- ``thread``: ``main`` runs the tree for a third of the time, then starts a thread ``late`` that
  runs ``late_work -> spin`` for the rest while ``main`` waits for it.
- ``gil``: thread ``hasher`` hashes 4 MiB buffers (``hashlib`` releases the GIL while it
  hashes) while ``main`` spins in Python (holding the GIL) and calls ``collect_cycles``, which
  makes cyclic garbage and runs ``gc.collect()`` (the interpreter is in GC meanwhile).
- ``deep``: ``main -> recurse`` 300 calls deep, then ``spin``: deeper than the walk stores.
- ``naps``: ``main -> napper -> nap_long -> time.sleep(3 ms)`` then ``... -> nap_short ->
  time.sleep(1 ms)``: off-CPU time, ~3:1 between the two (the summary's ``naps_s`` is the
  time spent in each, measured around the sleeps).
- ``rate``: pure Python calls (``main -> fib``), no system calls; the summary's ``rate_cpu``
  (calls per second of the thread's CPU time) measures a profiler's slowdown of its target:
  the CPU the target needs per unit of work (what a shared machine's load does not change).
"""

import json
import sys
import threading
import time


def spin(ms):
    end = time.thread_time() + ms / 1000.0
    x = 0
    while time.thread_time() < end:
        for _ in range(50):
            x += 1
    return x


def leaf_a():
    return spin(3)


def leaf_b():
    return spin(1)


def handler():
    leaf_a()
    leaf_b()


def key_func(x):
    spin(0.05)
    return -x


def sort_handler():
    return sorted(range(50), key=key_func)


def nap_long(spent):
    start = time.monotonic()
    time.sleep(0.003)
    spent["nap_long"] += time.monotonic() - start


def nap_short(spent):
    start = time.monotonic()
    time.sleep(0.001)
    spent["nap_short"] += time.monotonic() - start


def napper(spent):
    nap_long(spent)
    nap_short(spent)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def hash_work(until):
    import hashlib

    data = bytes(4 << 20)
    while time.monotonic() < until:
        hashlib.sha256(data).digest()


def collect_cycles():
    import gc

    for _ in range(2000):
        a = []
        a.append(a)
    gc.collect()


def recurse(depth, until):
    if depth:
        return recurse(depth - 1, until)
    while time.monotonic() < until:
        spin(2)


def late_work(until):
    while time.monotonic() < until:
        spin(2)


def main(mode, seconds):
    start = time.monotonic()
    until = start + seconds
    info = {"main_tid": threading.get_native_id()}
    if mode == "tree":
        while time.monotonic() < until:
            handler()
    elif mode == "callback":
        while time.monotonic() < until:
            sort_handler()
    elif mode == "thread":
        while time.monotonic() < start + seconds / 3:
            handler()
        late = threading.Thread(target=late_work, args=(until,), name="late")
        late.start()
        info["late_tid"] = late.native_id
        late.join()
    elif mode == "gil":
        hasher = threading.Thread(target=hash_work, args=(until,), name="hasher")
        hasher.start()
        info["hasher_tid"] = hasher.native_id
        while time.monotonic() < until:
            spin(5)
            collect_cycles()
        hasher.join()
    elif mode == "deep":
        recurse(300, until)
    elif mode == "naps":
        spent = {"nap_long": 0.0, "nap_short": 0.0}
        while time.monotonic() < until:
            napper(spent)
        info["naps_s"] = spent
    elif mode == "rate":
        calls = 0
        cpu = time.thread_time()
        while time.monotonic() < until:
            fib(15)
            calls += 1
        info["rate"] = calls / (time.monotonic() - start)
        info["rate_cpu"] = calls / (time.thread_time() - cpu)
    info["cpu"] = time.process_time()
    return info


if __name__ == "__main__":
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]))), flush=True)
