"""Process events: what our proc connector watcher costs next to pyroute2's ProcEventSocket.

Run (root): python -m pytest bench/test_bench_proc_events.py -p no:cacheprovider -s

- Start cost: a fresh interpreter imports the watcher module and subscribes, ours vs pyroute2's
  (``from pyroute2.netlink.connector.cn_proc import ProcEventSocket``), 5 runs each, interleaved;
  time measured in the child around import+subscribe, peak RSS (VmHWM) read in the child;
  ratios printed.
- Throughput: both watchers subscribed at once, each on its own thread, while 500 ``/bin/true``
  are spawned; each watcher's thread CPU time per event and its delivery latency (receive time
  minus the kernel's CLOCK_MONOTONIC timestamp) are printed, and the ratio. A third subscriber
  ("ours 10ms") reads in batches, resting 10 ms after each (``start(batch_interval=0.01)``).
- Why deferred snapshots: 40 execs of a dynamically linked program, mappings read at once on the
  exec event vs 50 ms later: how many of each contain libc.
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import require_root

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
SPAWNS = 500

OURS = """
import time
t = time.perf_counter()
from profiler.process.events import ProcessEvents
imported = time.perf_counter() - t
w = ProcessEvents()
print(imported, time.perf_counter() - t)
w.close()
"""
PYROUTE2 = """
import time
t = time.perf_counter()
from pyroute2.netlink.connector.cn_proc import ProcEventSocket
imported = time.perf_counter() - t
s = ProcEventSocket()
s.bind()
s.control(True)
print(imported, time.perf_counter() - t)
s.close()  # control(False) waits for an ack that 6.6+ kernels filter out for IGNOREd sockets
"""
BARE = """
import time
t = time.perf_counter()
print(0.0, time.perf_counter() - t)
"""
# Peak RSS of the child's own image (VmHWM), read at its end: wait4's ru_maxrss would include
# the copy of the (large) pytest process the child was forked from.
PEAK_RSS = """
with open("/proc/self/status") as f:
    print(next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024)
"""


def _run_child(code: str) -> tuple[float, float, float]:
    """(import s, import+subscribe s, peak RSS MB) of a fresh interpreter running ``code``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code + PEAK_RSS], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    out, _ = proc.communicate()
    assert proc.returncode == 0, out
    imported, subscribed, rss_mb = (float(x) for x in out.split())
    return imported, subscribed, rss_mb


def test_start_cost_vs_pyroute2(benchmark):
    require_root()
    results: dict[str, list[tuple[float, float, float]]] = {"bare": [], "ours": [], "pyroute2": []}

    def measure():
        for _ in range(RUNS):  # interleaved: a busy moment hits both alike
            results["bare"].append(_run_child(BARE))
            results["ours"].append(_run_child(OURS))
            results["pyroute2"].append(_run_child(PYROUTE2))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    med = {
        name: tuple(statistics.median(r[i] for r in runs) for i in range(3))
        for name, runs in results.items()
    }
    print(f"\nproc events watcher start, median of {RUNS} fresh interpreters:")
    for name in ("bare", "ours", "pyroute2"):
        imp, sub, rss = med[name]
        print(
            f"  {name:<9} import {imp * 1000:7.1f} ms  import+subscribe {sub * 1000:7.1f} ms  "
            f"peak RSS {rss:5.1f} MB"
        )
    (oi, ours_s, orss), (pi, ps, prss), (_, _, brss) = med["ours"], med["pyroute2"], med["bare"]
    print(
        f"  pyroute2 / ours: import+subscribe x{ps / ours_s:.1f}, "
        f"RSS over the bare interpreter x{(prss - brss) / max(orss - brss, 0.1):.1f} "
        f"({prss - brss:.1f} MB vs {orss - brss:.1f} MB)"
    )
    assert oi > 0 and pi > 0


class _Listener(threading.Thread):
    """Opens one watcher on its own thread (pyroute2's socket is bound to the thread that made
    it), then reads until it has seen the exit of ``last_pid``; counts CPU and latency."""

    def __init__(self, name, open_watcher, rest_s: float = 0.0):
        super().__init__(name=name, daemon=True)
        self.open_watcher = open_watcher
        self.rest_s = rest_s
        self.ready = threading.Event()
        self.last_pid: int | None = None
        self.exited: set[int] = set()
        self.events = 0
        self.latencies_ns: list[int] = []
        self.cpu_s = 0.0
        self.finished_at = 0.0
        self.error: BaseException | None = None

    def run(self):
        try:
            fd, read_events, close = self.open_watcher()
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            return
        try:
            self.ready.set()
            start = time.thread_time()
            while self.last_pid is None or self.last_pid not in self.exited:
                # pyroute2 buffers what it has read (fd None: its get() blocks by itself).
                if fd is not None and not select.select([fd], [], [], 0.1)[0]:
                    continue
                for stamp, exited_pid in read_events():
                    self.events += 1
                    self.latencies_ns.append(time.monotonic_ns() - stamp)
                    if exited_pid:
                        self.exited.add(exited_pid)
                if self.rest_s:
                    time.sleep(self.rest_s)  # what ProcessEvents.start(batch_interval=) does
            self.cpu_s = time.thread_time() - start
            self.finished_at = time.perf_counter()
        except BaseException as exc:
            self.error = exc
        finally:
            close()


def _open_ours():
    from profiler.process.events.watcher import ExitEvent, Overrun, ProcessEvents

    ours = ProcessEvents(threads=True)  # threads too: the same work as pyroute2's

    def read():
        out = []
        for e in ours.read():
            if isinstance(e, Overrun):
                raise AssertionError("overrun: events lost")
            pid = e.tgid if isinstance(e, ExitEvent) and not e.is_thread else 0
            out.append((e.timestamp_ns, pid))
        return out

    return ours.fileno(), read, ours.close


def _open_pyroute2():
    from pyroute2.netlink.connector.cn_proc import ProcEventSocket

    peer = ProcEventSocket()
    try:
        peer.bind()
        peer.control(True)
    except BaseException:
        peer.close()
        raise

    def read():
        out = []
        for m in peer.get():
            if m["what"] in (1, 2, 0x80000000):  # fork, exec, exit: as ours
                exited = m["what"] == 0x80000000 and m["process_pid"] == m["process_tgid"]
                out.append((m["timestamp_ns"], m["process_tgid"] if exited else 0))
        return out

    # Not control(False): it waits for an ack that 6.6+ kernels filter out for IGNOREd sockets.
    return None, read, peer.close


def test_events_per_second_vs_pyroute2(benchmark):
    require_root()
    listeners = [
        _Listener("ours", _open_ours),
        _Listener("pyroute2", _open_pyroute2),
        _Listener("ours 10ms", _open_ours, rest_s=0.01),
    ]
    for listener in listeners:
        listener.start()
        listener.ready.wait(30)
        assert listener.error is None, listener.error

    def spawn_all():
        last = 0
        for _ in range(SPAWNS):
            last = os.posix_spawn("/bin/true", ["/bin/true"], os.environ)
            os.waitpid(last, 0)
        return last

    t0 = time.perf_counter()
    last = benchmark.pedantic(spawn_all, rounds=1, iterations=1)
    for listener in listeners:
        listener.last_pid = last
    for listener in listeners:
        listener.join(60)
    for listener in listeners:
        assert listener.error is None, f"{listener.name}: {listener.error!r}"

    spawned = benchmark.stats.stats.total
    print(f"\n{SPAWNS} x /bin/true spawned in {spawned:.2f} s; each watcher on its own thread:")
    for lst in listeners:
        lat = sorted(lst.latencies_ns) or [0]
        per_event = lst.cpu_s / max(lst.events, 1)
        print(
            f"  {lst.name:<9} {lst.events:5d} events, all handled {lst.finished_at - t0:5.2f} s "
            f"after the first spawn; CPU {per_event * 1e6:6.1f} µs/event "
            f"(~{1 / max(per_event, 1e-9):,.0f} events/s per core); latency median "
            f"{lat[len(lat) // 2] / 1e3:7.1f} µs, p99 {lat[int(len(lat) * 0.99)] / 1e3:7.1f} µs"
        )
    o, p, _ = listeners
    print(
        f"  pyroute2 / ours CPU per event: x"
        f"{(p.cpu_s / max(p.events, 1)) / max(o.cpu_s / max(o.events, 1), 1e-9):.1f}"
    )
    assert o.events >= 3 * SPAWNS


def _has_libc(pid: int) -> bool | None:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("/libc.so" in line or "/libc-" in line for line in f)
    except OSError:
        return None


def test_snapshot_at_exec_vs_deferred(benchmark):
    require_root()
    from profiler.process.events.deferred import DeferredSnapshots
    from profiler.process.events.watcher import ExecEvent, ProcessEvents

    n = 40
    immediate: dict[int, bool | None] = {}
    deferred_seen: dict[int, bool | None] = {}
    children: set[int] = set()
    lock = threading.Lock()

    def later(pids):
        for pid in pids:
            deferred_seen[pid] = _has_libc(pid)

    with DeferredSnapshots(later, delay_s=0.05) as deferred, ProcessEvents() as events:

        def on_event(event):
            if isinstance(event, ExecEvent):
                immediate[event.tgid] = _has_libc(event.tgid)
                deferred.schedule(event.tgid)

        events.start(on_event)

        def spawn():
            procs = [subprocess.Popen(["/bin/sleep", "0.3"]) for _ in range(n)]
            with lock:
                children.update(p.pid for p in procs)
            for p in procs:
                p.wait()

        benchmark.pedantic(spawn, rounds=1, iterations=1)
    mine_now = [immediate.get(pid) for pid in children]
    mine_later = [deferred_seen.get(pid) for pid in children]
    print(
        f"\n{n} execs of /bin/sleep: libc mapped in {mine_now.count(True)}/{n} snapshots taken "
        f"at the exec event, in {mine_later.count(True)}/{n} taken 50 ms later"
    )
    assert mine_later.count(True) >= mine_now.count(True)
