"""Oracles and inputs for the pprof_encoder tests (and its benchmark).

- ``profile_pb2()``: our test-only profile.proto compiled with grpcio-tools, so the official
  protobuf runtime can decode what we encode.
- ``go_pprof_raw_totals()``: per-sample-type totals as ``go tool pprof -raw`` reads a file.
- ``realistic_samples()``: a seeded, profiler-like workload (mappings, inlined frames, labels).
"""

from __future__ import annotations

import functools
import importlib.util
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

from pprof_encoder import Frame, Mapping, ProfileBuilder

PROTO = Path(__file__).with_name("profile.proto")


@functools.cache
def profile_pb2() -> ModuleType:
    """The generated ``perftools.profiles`` module (compiled once per process)."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="pprof_pb2_")
    try:
        status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out}", str(PROTO)])
        assert status == 0, f"protoc failed on {PROTO}"
        spec = importlib.util.spec_from_file_location("pprof_profile_pb2", f"{out}/profile_pb2.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        shutil.rmtree(out)
    return module


def decode_with_protobuf(data: bytes):
    """Our pprof bytes decoded by the official protobuf runtime."""
    msg = profile_pb2().Profile()
    msg.ParseFromString(data)
    return msg


def go_pprof(go: str, *args: str) -> str:
    """Run ``go tool pprof ARGS`` and return its standard output (fails the test on error)."""
    out = subprocess.run([go, "tool", "pprof", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"go tool pprof {' '.join(args)} failed:\n{out.stderr}"
    return out.stdout


_RAW_SAMPLE = re.compile(r"^\s+(-?\d+(?:\s+-?\d+)*):")


def go_pprof_raw_totals(go: str, path: str) -> list[int]:
    """Totals per sample type from ``go tool pprof -raw`` (sums of its sample lines)."""
    text = go_pprof(go, "-raw", path)
    section = text.split("Samples:\n", 1)[1].split("\nLocations", 1)[0]
    totals: list[int] = []
    for line in section.splitlines()[1:]:
        m = _RAW_SAMPLE.match(line)
        if m:
            values = [int(v) for v in m.group(1).split()]
            totals = [a + b for a, b in zip(totals, values, strict=True)] if totals else values
    return totals


def go_pprof_top_total(go: str, path: str) -> int:
    """The total ``go tool pprof -top`` reports for a profile with a count sample type."""
    text = go_pprof(go, "-top", path)
    m = re.search(r"of (\d+) total", text)
    assert m, f"no total in go tool pprof -top output:\n{text[:500]}"
    return int(m.group(1))


def realistic_samples(
    n_samples: int = 20_000, n_locations: int = 5_000, n_functions: int = 2_000, seed: int = 7
) -> list[tuple[list[Frame], list[int], dict]]:
    """Profiler-like input: ``(frames leaf first, [count, cpu ns], labels)`` per sample.

    Three binaries, one location per address (about one in ten with an inlined frame), stacks 4
    to 32 deep drawn from the locations, and three labels (pid, thread name, a size in bytes).
    """
    rnd = random.Random(seed)
    mappings = [
        Mapping(
            0x400000 + i * 0x1000000,
            0x400000 + (i + 1) * 0x1000000,
            0,
            f"/usr/bin/app{i}",
            f"{i:040x}",
        )
        for i in range(3)
    ]
    functions = [f"app::module{i % 37}::function_{i}" for i in range(n_functions)]
    locations: list[list[Frame]] = []
    for i in range(n_locations):
        m = mappings[i % 3]
        address = m.start + 16 * i + 0x1000
        j = i % n_functions
        frame = Frame(functions[j], f"src/module{j % 37}.rs", 10 + i % 500, address, m)
        if i % 10 == 0:
            k = (i * 7) % n_functions
            inner = Frame(functions[k], f"src/module{k % 37}.rs", 5, address, m, inlined=True)
            locations.append([inner, frame])
        else:
            locations.append([frame])
    threads = ["main", "worker-1", "worker-2", "io"]
    samples = []
    for _ in range(n_samples):
        depth = rnd.randint(4, 32)
        frames = [f for loc in rnd.sample(locations, depth) for f in loc]
        count = rnd.randint(1, 5)
        labels = {
            "pid": 1000 + rnd.randrange(8),
            "thread_name": rnd.choice(threads),
            "alloc": (rnd.randrange(4) * 4096, "bytes"),
        }
        samples.append((frames, [count, count * 10_101_010], labels))
    return samples


def build_realistic(samples) -> ProfileBuilder:
    """A builder with the realistic sample types filled with ``samples``."""
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        10_101_010,
        time_nanos=1_700_000_000_000_000_000,
        duration_nanos=20_000_000_000,
    )
    for frames, values, labels in samples:
        b.add_sample(frames, values, labels)
    return b
