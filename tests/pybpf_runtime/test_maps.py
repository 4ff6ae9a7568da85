"""Maps on the real kernel: every type, CRUD, iteration, batches, per-CPU values, typed structs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from pybpf.bpf_attr import Cmd
from pybpf.bpf_commands import BPF_EXIST, BPF_NOEXIST
from pybpf.errors import BPFError
from pybpf.maps import MapSpec, MapType, count_cpu_list, possible_cpus
from pybpf.structs import char, s32, struct_type, u32, u64
from pybpf.syscall import use_kernel
from tests.support import require_tool

from .fake_kernel import ScriptedKernel, fail

pytestmark = pytest.mark.bpf

PAGE = os.sysconf("SC_PAGE_SIZE")

EVERY_TYPE = [
    MapSpec("hash", MapType.HASH, 8, 8, 64),
    MapSpec("array", MapType.ARRAY, 4, 8, 64),
    MapSpec("pc_hash", MapType.PERCPU_HASH, 8, 8, 64),
    MapSpec("pc_array", MapType.PERCPU_ARRAY, 4, 8, 64),
    MapSpec("lru", MapType.LRU_HASH, 8, 8, 64),
    MapSpec("lru_pc", MapType.LRU_PERCPU_HASH, 8, 8, 64),
    MapSpec("stacks", MapType.STACK_TRACE, 4, 8 * 127, 64),
    MapSpec("events", MapType.PERF_EVENT_ARRAY, 4, 4, possible_cpus()),
    MapSpec("ring", MapType.RINGBUF, 0, 0, 4 * PAGE),
]


@pytest.mark.parametrize("spec", EVERY_TYPE, ids=lambda s: s.type.name)
def test_every_map_type_creates_and_reports_its_info(spec, no_fd_leak):
    with spec.create() as m:
        info = m.info()
        assert info.id > 0
        assert info.name == spec.name
        assert info.type == spec.type
        assert (info.key_size, info.value_size, info.max_entries) == (
            spec.key_size,
            spec.value_size,
            spec.max_entries,
        )
    assert m.closed


def test_info_agrees_with_bpftool(no_fd_leak):
    bpftool = require_tool("bpftool")
    with MapSpec("oracle_map", MapType.LRU_HASH, 8, 16, 32).create() as m:
        info = m.info()
        out = subprocess.run(
            [bpftool, "-j", "map", "show", "id", str(info.id)],
            capture_output=True,
            text=True,
            check=True,
        )
        shown = json.loads(out.stdout)
    assert shown["name"] == "oracle_map"
    assert shown["type"] == "lru_hash"
    assert (shown["bytes_key"], shown["bytes_value"], shown["max_entries"]) == (8, 16, 32)


def test_hash_crud_with_int_and_bytes_keys(no_fd_leak):
    with MapSpec("crud", MapType.HASH, 8, 8, 16).create() as m:
        assert m.lookup(1) is None
        m.update(1, 100)
        m[b"\x02" + bytes(7)] = (200).to_bytes(8, sys.byteorder)
        assert m.lookup(1) == (100).to_bytes(8, sys.byteorder)
        assert int.from_bytes(m[2], sys.byteorder) == 200
        with pytest.raises(BPFError) as info:
            m.update(1, 5, flags=BPF_NOEXIST)
        assert info.value.errno == errno.EEXIST
        with pytest.raises(BPFError):
            m.update(3, 5, flags=BPF_EXIST)
        m.update(1, 7, flags=BPF_EXIST)
        assert int.from_bytes(m[1], sys.byteorder) == 7
        m.delete(1)
        assert 1 not in m and 2 in m
        with pytest.raises(KeyError):
            m.delete(1)
        with pytest.raises(ValueError, match="8 bytes"):
            m.update(b"short", 1)


def test_full_hash_map_reports_e2big(no_fd_leak):
    with MapSpec("full", MapType.HASH, 4, 4, 2).create() as m:
        m.update(1, 1)
        m.update(2, 2)
        with pytest.raises(BPFError) as info:
            m.update(3, 3)
    assert info.value.errno == errno.E2BIG


def test_iteration_visits_every_key_once(no_fd_leak):
    with MapSpec("iter", MapType.HASH, 4, 4, 512).create() as m:
        for k in range(300):
            m.update(k, k * 2)
        keys = [int.from_bytes(k, sys.byteorder) for k in m.keys()]
        items = {
            int.from_bytes(k, sys.byteorder): int.from_bytes(v, sys.byteorder) for k, v in m.items()
        }
    assert sorted(keys) == list(range(300))
    assert items == {k: 2 * k for k in range(300)}


def test_iteration_survives_deleting_the_current_key(no_fd_leak):
    with MapSpec("drain", MapType.HASH, 4, 4, 512).create() as m:
        for k in range(300):
            m.update(k, k)
        seen = []
        for key in m.keys():
            seen.append(int.from_bytes(key, sys.byteorder))
            m.delete(key)
        assert sorted(seen) == list(range(300))
        assert list(m.keys()) == []


def test_iteration_survives_deleting_other_keys(no_fd_leak):
    with MapSpec("churn", MapType.HASH, 4, 4, 512).create() as m:
        for k in range(200):
            m.update(k, k)
        seen, deleted = [], []
        for key in m.keys():
            seen.append(int.from_bytes(key, sys.byteorder))
            # Delete a key the iterator may hold next, which can make the kernel restart the walk.
            for other in range(200):
                if other not in seen and other not in deleted:
                    m.delete(other)
                    deleted.append(other)
                    break
    # No key is handed out twice, even across restarts, and every key that stayed is handed out.
    # (A key deleted after the iterator fetched it ahead may still be handed out once.)
    assert len(seen) == len(set(seen))
    assert set(range(200)) - set(deleted) <= set(seen)
    assert len(deleted) > 50


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH])
def test_batch_lookup_and_delete_drains_everything(map_type, no_fd_leak):
    n = 3000
    with MapSpec("batch", map_type, 4, 8, 4096).create() as m:
        for k in range(n):
            m.update(k, k + 1)
        looked = m.lookup_batch()
        assert len(looked) == n
        drained = m.lookup_and_delete_batch()
        assert list(m.keys()) == []
    got = {}
    for key, value in drained:
        k = int.from_bytes(key, sys.byteorder)
        values = value if isinstance(value, list) else [value]
        got[k] = {int.from_bytes(v, sys.byteorder) for v in values}
    assert got == {k: {k + 1} for k in range(n)}


def test_batch_on_array_reads_every_slot(no_fd_leak):
    with MapSpec("arr_batch", MapType.ARRAY, 4, 8, 100).create() as m:
        for k in range(100):
            m.update(k, k * k)
        pairs = m.lookup_batch()
    assert [int.from_bytes(v, sys.byteorder) for _, v in pairs] == [k * k for k in range(100)]


def test_array_cannot_be_drained_says_why(no_fd_leak):
    with MapSpec("arr_drain", MapType.ARRAY, 4, 8, 4).create() as m:
        with pytest.raises(BPFError, match="lookup_batch") as info:
            m.lookup_and_delete_batch()
    assert info.value.errno == errno.EINVAL


def test_stack_trace_map_batch_falls_back_to_iteration(no_fd_leak):
    # Stack trace maps have no batch operations: the fallback answers (here: empty).
    with MapSpec("st_batch", MapType.STACK_TRACE, 4, 64, 16).create() as m:
        assert m.lookup_and_delete_batch() == []


def test_unknown_map_type_id_passes_through_to_the_kernel(no_fd_leak):
    spec = MapSpec("future", 4000, 4, 4, 1)
    assert spec.type == 4000
    with pytest.raises(BPFError) as info:
        spec.create()
    assert info.value.errno == errno.EINVAL


def test_batch_falls_back_when_the_kernel_has_none(no_fd_leak):
    einval = fail(errno.EINVAL)
    fake = ScriptedKernel(
        {Cmd.MAP_LOOKUP_BATCH: einval, Cmd.MAP_LOOKUP_AND_DELETE_BATCH: einval}, passthrough=True
    )
    with use_kernel(fake), MapSpec("fallback", MapType.HASH, 4, 4, 64).create() as m:
        for k in range(50):
            m.update(k, k)
        looked = m.lookup_batch()
        drained = m.lookup_and_delete_batch()
        left = list(m.keys())
    assert Cmd.MAP_LOOKUP_AND_DELETE_BATCH not in fake.calls  # no support: not asked again
    assert fake.calls.count(Cmd.MAP_LOOKUP_BATCH) == 1
    assert len(looked) == 50 and sorted(drained) == sorted(looked)
    assert left == []


def test_drain_that_loses_batch_support_midway_loses_nothing(monkeypatch, no_fd_leak):
    from pybpf.maps import Map
    from pybpf.syscall import Kernel

    monkeypatch.setattr(Map, "BATCH_SIZE", 16)

    class FailsOnSecondBatch(Kernel):
        batches = 0

        def bpf(self, cmd, attr, size):
            if cmd == Cmd.MAP_LOOKUP_AND_DELETE_BATCH:
                self.batches += 1
                if self.batches > 1:
                    raise OSError(errno.EINVAL, "no more batches")
            return super().bpf(cmd, attr, size)

    with MapSpec("midway", MapType.HASH, 4, 4, 256).create() as m:
        for k in range(200):
            m.update(k, k)
        with use_kernel(FailsOnSecondBatch()):
            drained = m.lookup_and_delete_batch()
        assert list(m.keys()) == []
    keys = [int.from_bytes(k, sys.byteorder) for k, _ in drained]
    assert sorted(keys) == list(range(200))


def test_per_cpu_values_are_one_per_possible_cpu(no_fd_leak):
    ncpus = possible_cpus()
    with open("/sys/devices/system/cpu/possible") as f:
        assert ncpus == count_cpu_list(f.read())
    # A 4-byte value is copied 8-byte aligned per CPU: the padding must not leak into values.
    with MapSpec("pc", MapType.PERCPU_ARRAY, 4, 4, 4, value_struct=u32).create() as m:
        m.update(1, list(range(10, 10 + ncpus)))
        assert m.lookup(1) == list(range(10, 10 + ncpus))
        m.update(2, 7)  # one value: stored on every CPU
        assert m.lookup(2) == [7] * ncpus
        assert m.lookup(0) == [0] * ncpus
        with pytest.raises(ValueError, match="per-CPU"):
            m.update(3, [1] * (ncpus + 1))
    with MapSpec("pch", MapType.PERCPU_HASH, 4, 8, 4).create() as m:
        m.update(5, [(i).to_bytes(8, sys.byteorder) for i in range(ncpus)])
        assert m.lookup(5) == [(i).to_bytes(8, sys.byteorder) for i in range(ncpus)]


def test_count_cpu_list_parses_kernel_cpu_lists():
    assert count_cpu_list("0\n") == 1
    assert count_cpu_list("0-3,5,7-8") == 7


def test_typed_struct_keys_and_values(no_fd_leak):
    Key = struct_type("Key", pid=u32, tid=u32, comm=char(16), ustack=s32, kstack=s32)
    Value = struct_type("Value", count=u64, last_cpu=u32)
    spec = MapSpec("typed", MapType.HASH, max_entries=8, key_struct=Key, value_struct=Value)
    assert (spec.key_size, spec.value_size) == (Key.size, Value.size)
    with spec.create() as m:
        key = Key(pid=42, tid=43, comm=b"python3", ustack=-1, kstack=7)
        m.update(key, Value(count=3, last_cpu=1))
        assert m.lookup(key) == Value(count=3, last_cpu=1)
        assert list(m.items()) == [(key, Value(count=3, last_cpu=1))]
        assert m.lookup_and_delete_batch() == [(key, Value(count=3, last_cpu=1))]
        with pytest.raises(TypeError):
            m.update(Value(count=1), Value(count=1))


def test_stack_trace_map_unknown_id_is_none(no_fd_leak):
    with MapSpec("st", MapType.STACK_TRACE, 4, 8 * 16, 16).create() as m:
        assert m.stack_trace(3) is None
        with pytest.raises(BPFError) as info:
            m.update(0, bytes(8 * 16))  # user space cannot write stacks
    assert info.value.errno == errno.EINVAL


def test_perf_event_array_rejects_a_non_perf_fd(no_fd_leak):
    with MapSpec("ev", MapType.PERF_EVENT_ARRAY, 4, 4, possible_cpus()).create() as m:
        r, w = os.pipe()
        try:
            with pytest.raises(BPFError) as info:
                m.update(0, r)
        finally:
            os.close(r)
            os.close(w)
    assert info.value.errno in (errno.EBADF, errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP)


@pytest.mark.parametrize(
    ("map_type", "sizes", "problem"),
    [
        (MapType.RINGBUF, (0, 0, 1000), "power of 2"),
        (MapType.RINGBUF, (4, 0, 4096), "key_size=0"),
        (MapType.STACK_TRACE, (4, 12, 16), "8 \\* max frames"),
        (MapType.PERF_EVENT_ARRAY, (4, 8, 2), "an index and an fd"),
        (MapType.ARRAY, (8, 8, 2), "4-byte indexes"),
    ],
)
def test_shapes_the_kernel_would_reject_are_explained(map_type, sizes, problem):
    with pytest.raises(ValueError, match=problem):
        MapSpec("shape", map_type, *sizes)


def test_spec_size_mismatch_is_rejected():
    with pytest.raises(ValueError, match="key_size"):
        MapSpec("bad", MapType.HASH, key_size=4, value_size=8, key_struct=u64)
