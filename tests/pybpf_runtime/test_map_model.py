"""A hash map in the kernel behaves like a Python dict under random updates and deletes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.maps import MapSpec, MapType
from pybpf.structs import u32, u64

pytestmark = pytest.mark.bpf

CAPACITY = 64

operations = st.lists(
    st.one_of(
        st.tuples(st.just("update"), st.integers(0, 99), st.integers(0, 2**64 - 1)),
        st.tuples(st.just("delete"), st.integers(0, 99), st.just(0)),
    ),
    max_size=120,
)


@pytest.fixture(scope="module", params=[MapType.HASH, MapType.PERCPU_HASH])
def kernel_map(request):
    spec = MapSpec("model", request.param, max_entries=CAPACITY, key_struct=u32, value_struct=u64)
    with spec.create() as m:
        yield m


@settings(max_examples=60, deadline=None)
@given(ops=operations, drain_with_batch=st.booleans())
def test_hash_map_matches_a_dict(kernel_map, ops, drain_with_batch):
    kernel_map.lookup_and_delete_batch()  # start empty (the map is shared between examples)
    model: dict[int, int] = {}
    for op, key, value in ops:
        if op == "update":
            if key not in model and len(model) == CAPACITY:
                continue  # a full hash map refuses new keys (E2BIG), tested elsewhere
            kernel_map.update(key, value)
            model[key] = value
        elif key in model:
            kernel_map.delete(key)
            del model[key]
        else:
            with pytest.raises(KeyError):
                kernel_map.delete(key)
    per_cpu = kernel_map.per_cpu

    def plain(v):
        if per_cpu:
            assert len(set(v)) == 1  # one value written to every CPU
            return v[0]
        return v

    assert {k: plain(v) for k, v in kernel_map.items()} == model
    assert sorted(kernel_map.keys()) == sorted(model)
    for key, value in model.items():
        assert plain(kernel_map.lookup(key)) == value
    drained = kernel_map.lookup_and_delete_batch() if drain_with_batch else None
    if drained is not None:
        assert {k: plain(v) for k, v in drained} == model
        assert list(kernel_map.keys()) == []
