"""Hypothesis strategies for generated profiles: stacks of frames, values and labels."""

from __future__ import annotations

from hypothesis import strategies as st

from pprof_encoder import Frame, Mapping

MAP = Mapping(0x400000, 0x500000, 0x1000, "/usr/bin/app", "b1d0")

names = st.sampled_from(["main", "run", "poll", "alloc", "λ::closure", "std::vec::Vec<T>::push"])
mappings = st.sampled_from([None, MAP, Mapping(0x7F0000, 0x7F8000, 0, "/lib/libc.so.6", "")])
frames = st.builds(
    Frame,
    function=names,
    file=st.sampled_from(["", "a.c", "src/lib.rs"]),
    line=st.integers(0, 5000),
    address=st.integers(0, 1 << 48),
    mapping=mappings,
    system_name=st.one_of(st.none(), names),
    inlined=st.booleans(),
    start_line=st.integers(0, 5000),
)
label_values = st.one_of(
    st.text(max_size=8),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.tuples(st.integers(0, 1 << 40), st.just("bytes")),
)
sample_lists = st.lists(
    st.tuples(
        st.lists(st.one_of(frames, names), max_size=8),
        st.lists(st.integers(-(1 << 40), 1 << 40), min_size=2, max_size=2),
        st.dictionaries(st.sampled_from(["pid", "tid", "comm", "bytes"]), label_values, max_size=3),
    ),
    max_size=20,
)
