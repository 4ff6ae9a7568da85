"""A small cpu-clock sampler whose key carries the spawn chain: the reference for integration.

It is what the main sampler (:mod:`profiler.bpf.sampler_program`) would add, reduced to the
essentials so spawn tracking can be tested on its own: one set of maps, user stacks only, one
target process. The key is ``{tgid, tid, user_stack_id, pad, spawn_chain[SPAWN_DEPTH], comm}``
(48 bytes); the chain comes from :func:`profiler.bpf.spawn_programs.emit_spawn_chain_lookup`.
"""

from __future__ import annotations

import contextlib
import errno
import struct
from dataclasses import dataclass

from pybpf.asm import DW, R0, R1, R2, R3, R4, R6, R7, R8, R10, Assembler, W
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType

from . import spawn_programs as progs
from .sampler import decode_stack

KEY_SIZE = 48
KEY_TGID = 0
KEY_TID = 4
KEY_USER_STACK = 8
KEY_CHAIN = 16
KEY_COMM = 32
_KEY = struct.Struct(f"<IIii{progs.SPAWN_DEPTH}i16s")
_FP_KEY = -KEY_SIZE
_FP_TMP = _FP_KEY - 8
BPF_NOEXIST = 1

STAT_SAMPLES = 0
STAT_LOST = 1  # the counts map had no room for a new key
N_STATS = 2


@dataclass(frozen=True)
class LinkedSample:
    """Samples counted for one key: a user stack and the spawn chain of the task being polled.

    ``spawn_chain`` holds stack ids (nearest spawn first; negative: none) to resolve with
    :meth:`profiler.bpf.spawn_tracker.SpawnTracker.spawn_stack`.
    """

    pid: int
    tid: int
    comm: str
    user_stack: tuple[int, ...]
    spawn_chain: tuple[int, ...]
    count: int


def build_linked_sampler(
    tgid: int, counts: object, stacks: object, current: object, stats: object
) -> Assembler:
    """A perf_event program counting ``{tgid, tid, ustack, spawn chain, comm}`` of ``tgid``."""
    a = Assembler()
    a.mov(R6, R1, comment="r6 = ctx")
    a.call("get_current_pid_tgid")
    a.mov(R7, R0, comment="r7 = tgid << 32 | tid")
    a.mov(R8, R0)
    a.rsh(R8, 32)
    a.jne(R8, tgid, "out", comment="only the target process")
    for off in range(0, KEY_SIZE, 8):
        a.st(DW, R10, _FP_KEY + off, 0)
    a.stx(W, R10, _FP_KEY + KEY_TGID, R8)
    a.stx(W, R10, _FP_KEY + KEY_TID, R7)
    a.mov(R1, R10)
    a.add(R1, _FP_KEY + KEY_COMM)
    a.mov(R2, 16)
    a.call("get_current_comm")
    a.mov(R1, R6)
    a.ld_map_fd(R2, stacks)
    a.mov(R3, progs.BPF_F_USER_STACK)
    a.call("get_stackid")
    a.stx(W, R10, _FP_KEY + KEY_USER_STACK, R0)
    # The one addition a sampler needs for spawn links:
    progs.emit_spawn_chain_lookup(a, current, _FP_KEY + KEY_CHAIN, _FP_TMP, R7)
    # counts[key] += 1, inserting 1 when absent.
    a.ld_map_fd(R1, counts)
    a.mov(R2, R10)
    a.add(R2, _FP_KEY)
    a.call("map_lookup_elem")
    a.jeq(R0, 0, "insert")
    a.mov(R1, 1)
    a.atomic_add(DW, R0, 0, R1)
    a.ja("counted")
    a.label("insert")
    a.st(DW, R10, _FP_TMP, 1)
    a.ld_map_fd(R1, counts)
    a.mov(R2, R10)
    a.add(R2, _FP_KEY)
    a.mov(R3, R10)
    a.add(R3, _FP_TMP)
    a.mov(R4, BPF_NOEXIST)
    a.call("map_update_elem")
    a.jeq(R0, 0, "counted")
    a.jeq(R0, -errno.EEXIST, "counted", comment="another CPU inserted it: one sample lost")
    progs.emit_count_stat(a, stats, STAT_LOST, _FP_TMP)
    a.ja("out")
    a.label("counted")
    progs.emit_count_stat(a, stats, STAT_SAMPLES, _FP_TMP)
    a.label("out")
    a.mov(R0, 0)
    a.exit()
    return a


class LinkedSampler:
    """Samples one process on every CPU at ``freq`` Hz, keyed with the tracker's spawn chain."""

    def __init__(self, tgid: int, current: object, freq: int = 99, counts_size: int = 10240):
        self._stack = contextlib.ExitStack()
        self._closed = False
        try:
            self._open(tgid, current, freq, counts_size)
        except BaseException:
            self._stack.close()
            raise

    def _map(self, spec: MapSpec):
        m = spec.create()
        self._stack.callback(m.close)
        return m

    def _open(self, tgid: int, current: object, freq: int, counts_size: int) -> None:
        from pybpf.attach import attach_perf_event
        from pybpf.perf_event import online_cpus, open_cpu_clock

        self.counts = self._map(MapSpec("ps_counts", MapType.HASH, KEY_SIZE, 8, counts_size))
        self.stacks = self._map(MapSpec("ps_stacks", MapType.STACK_TRACE, 4, 8 * 127, 8192))
        self.stats_map = self._map(MapSpec("ps_sstats", MapType.PERCPU_ARRAY, 4, 8, N_STATS))
        insns = build_linked_sampler(tgid, self.counts, self.stacks, current, self.stats_map)
        spec = ProgramSpec(
            name="ps_sampler", type=ProgramType.PERF_EVENT, insns=insns, license="GPL"
        )
        self.program = spec.load()
        self._stack.callback(self.program.close)
        for cpu in online_cpus():
            event = open_cpu_clock(cpu=cpu, freq=freq)
            self._stack.callback(event.close)
            link = attach_perf_event(self.program, event)
            self._stack.callback(link.close)

    def drain(self) -> list[LinkedSample]:
        """Read and clear the counts (stacks stay: their ids are reused)."""
        out = []
        for key, value in self.counts.lookup_and_delete_batch():
            tgid, tid, ustack, _pad, *rest = _KEY.unpack(bytes(key))
            chain, comm = tuple(rest[:-1]), rest[-1]
            raw = self.stacks.lookup(struct.pack("<I", ustack)) if ustack >= 0 else None
            out.append(
                LinkedSample(
                    pid=tgid,
                    tid=tid,
                    comm=comm.split(b"\0", 1)[0].decode("utf-8", "replace"),
                    user_stack=decode_stack(raw) if raw else (),
                    spawn_chain=chain,
                    count=struct.unpack_from("<Q", bytes(value))[0],
                )
            )
        return out

    def close(self) -> None:
        """Detach and close everything, exactly once."""
        if self._closed:
            return
        self._closed = True
        self._stack.close()

    def __enter__(self) -> LinkedSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
