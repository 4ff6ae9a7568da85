"""speedscope JSON: valid against speedscope's own schema, one profile per thread, true weights."""

from __future__ import annotations

import json
import os
from collections import Counter

import jsonschema
import pytest

from pprof_encoder import Frame, Mapping, ProfileBuilder
from profiler.output.speedscope import render_speedscope
from profiler.output.title import ProfileTitle

from .tools import speedscope_release

KERNEL = Mapping(filename="[kernel.kallsyms]")
APP = Mapping(0x1000, 0x9000, 0, "/bin/app")


def sample_profile():
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1000,
        default_sample_type="cpu",
    )
    work = [Frame("leaf", "a.c", 3, 0x2000, APP), Frame("main", "a.c", 9, 0x1100, APP)]
    sys = [
        Frame("vfs_write", address=0xFFFF10, mapping=KERNEL),
        Frame("write", address=0x3000, mapping=APP),
        work[1],
    ]
    inl = [
        Frame("helper", "h.h", 1, 0x2100, APP, inlined=True),
        Frame("caller", "a.c", 5, 0x2100, APP),
        work[1],
    ]
    t1 = {"pid": 10, "tid": 10, "process_name": "app", "thread_name": "app"}
    t2 = {"pid": 10, "tid": 11, "process_name": "app", "thread_name": "worker"}
    b.add_sample(work, [5, 5000], t1)
    b.add_sample(sys, [2, 2000], t1)
    b.add_sample(work, [7, 7000], t2)
    b.add_sample(inl, [1, 1000], t2)
    b.add_sample(work, [0, 0], t2)  # zero weights are left out
    return b.build()


def stacks_of(doc, profile):
    names = [f["name"] for f in doc["shared"]["frames"]]
    return Counter(
        {
            tuple(names[i] for i in s): w
            for s, w in zip(profile["samples"], profile["weights"], strict=True)
        }
    )


def test_valid_against_speedscopes_schema_with_one_profile_per_thread():
    with open(os.path.join(speedscope_release(), "file-format-schema.json")) as f:
        schema = json.load(f)
    text = render_speedscope(sample_profile(), title=ProfileTitle(command="./app", pids=(10,)))
    doc = json.loads(text)
    jsonschema.validate(doc, schema)
    assert doc["name"].startswith("./app — pid 10")
    assert [p["name"] for p in doc["profiles"]] == [
        "app (pid 10): app (tid 10)",
        "app (pid 10): worker (tid 11)",
    ]
    first, second = doc["profiles"]
    assert doc["activeProfileIndex"] == 1  # the heaviest: 8000 ns against 7000
    assert first["unit"] == "nanoseconds"
    assert (first["startValue"], first["endValue"]) == (0, 7000)
    # Root first; kernel frames marked as perf marks them; inlined functions are frames.
    assert stacks_of(doc, first) == {
        ("main", "leaf"): 5000,
        ("main", "write", "vfs_write [k]"): 2000,
    }
    assert stacks_of(doc, second) == {("main", "leaf"): 7000, ("main", "caller", "helper"): 1000}
    frames = {f["name"]: f for f in doc["shared"]["frames"]}
    assert frames["leaf"] == {"name": "leaf", "file": "a.c"}
    assert frames["write"] == {"name": "write", "file": "/bin/app"}  # no source: the binary


def test_per_process_and_sample_type_choices():
    profile = sample_profile()
    doc = json.loads(
        render_speedscope(profile, title=ProfileTitle(), per="process", sample_index=0)
    )
    [only] = doc["profiles"]
    assert only["name"] == "app (pid 10)"
    assert only["unit"] == "none"  # samples/count
    assert only["endValue"] == 15
    with pytest.raises(ValueError, match="per must be"):
        render_speedscope(profile, title=ProfileTitle(), per="cpu")
