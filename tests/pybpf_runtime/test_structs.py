"""Typed struct layouts: C alignment checked against ctypes, and pack/unpack round trips."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.structs import array, char, s8, s16, s32, s64, struct_type, u8, u16, u32, u64

CTYPES = {
    u8: ctypes.c_uint8,
    u16: ctypes.c_uint16,
    u32: ctypes.c_uint32,
    u64: ctypes.c_uint64,
    s8: ctypes.c_int8,
    s16: ctypes.c_int16,
    s32: ctypes.c_int32,
    s64: ctypes.c_int64,
}
SCALARS = list(CTYPES)


def as_ctypes(fields):
    """The same struct declared with ctypes (which lays it out as the C compiler does)."""
    cfields = []
    for name, layout in fields:
        if layout in CTYPES:
            cfields.append((name, CTYPES[layout]))
        else:
            cfields.append((name, ctypes.c_char * layout.size))
    return type("C", (ctypes.Structure,), {"_fields_": cfields})


field_layouts = st.one_of(st.sampled_from(SCALARS), st.integers(1, 20).map(char))


@given(st.lists(field_layouts, min_size=1, max_size=10))
def test_layout_matches_the_c_compiler(layouts):
    fields = [(f"f{i}", layout) for i, layout in enumerate(layouts)]
    ours = struct_type("S", **dict(fields))
    theirs = as_ctypes(fields)
    assert ours.size == ctypes.sizeof(theirs)
    assert ours.align == ctypes.alignment(theirs)
    for name, _ in fields:
        assert ours.offset_of(name) == getattr(theirs, name).offset


@given(st.data())
def test_pack_unpack_round_trip_and_agree_with_ctypes(data):
    layouts = data.draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=8))
    fields = {f"f{i}": layout for i, layout in enumerate(layouts)}
    values = {}
    for name, layout in fields.items():
        bits = layout.size * 8
        signed = layout.fmt.islower()
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        values[name] = data.draw(st.integers(lo, hi))
    S = struct_type("S", **fields)
    instance = S(**values)
    raw = S.pack(instance)
    assert S.unpack(raw) == instance
    assert raw == bytes(as_ctypes(list(fields.items()))(**values))


def test_profiler_key_layout():
    Key = struct_type("Key", tgid=u32, pid=u32, comm=char(16), ustack=s32, kstack=s32)
    assert Key.size == 32
    key = Key(tgid=1, pid=2, comm="bash", ustack=-1, kstack=5)
    raw = Key.pack(key)
    assert raw[8:12] == b"bash" and raw[12:24] == bytes(12)
    assert Key.unpack(raw) == Key(tgid=1, pid=2, comm=b"bash", ustack=-1, kstack=5)


def test_padding_nesting_and_arrays():
    Inner = struct_type("Inner", a=u8, b=u64)
    Outer = struct_type("Outer", tag=u16, inner=Inner, ids=array(u32, 3), name=char(3))
    assert (Inner.size, Inner.align) == (16, 8)
    assert Outer.offset_of("inner") == 8
    assert Outer.offset_of("ids") == 24
    assert Outer.offset_of("name") == 36
    assert Outer.size == 40
    value = Outer(tag=7, inner=Inner(a=1, b=2**63), ids=(1, 2, 3), name=b"ab")
    assert Outer.unpack(Outer.pack(value)) == value
    assert Outer() == Outer.unpack(bytes(Outer.size))  # defaults are all zero


def test_array_of_structs_and_scalar_layouts():
    Pair = struct_type("Pair", x=u32, y=u32)
    pairs = array(Pair, 2)
    value = (Pair(x=1, y=2), Pair(x=3, y=4))
    assert pairs.unpack(pairs.pack(value)) == value
    assert u64.unpack(u64.pack(2**64 - 1)) == 2**64 - 1
    assert char(4).unpack(b"ab\0z") == b"ab"


def test_bad_values_are_rejected():
    S = struct_type("S", name=char(4), ids=array(u8, 2))
    with pytest.raises(ValueError, match="char"):
        S.pack(S(name=b"toolong"))
    with pytest.raises(ValueError, match="2 elements"):
        S.pack(S(ids=(1, 2, 3)))
    with pytest.raises(TypeError):
        S.pack(("not", "an instance"))
    with pytest.raises(ValueError):
        struct_type("Empty")
    with pytest.raises(ValueError, match="reserved"):
        struct_type("Clash", size=u32)


def test_packed_struct_has_no_padding():
    Packed = struct_type("Packed", a=u8, b=u64, _packed=True)
    assert Packed.size == 9 and Packed.offset_of("b") == 1
    assert Packed.unpack(Packed.pack(Packed(a=1, b=2))) == Packed(a=1, b=2)
