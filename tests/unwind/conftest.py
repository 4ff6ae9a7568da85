"""Fixtures: build the snapshot workloads (C with gcc, Rust with rustc) once per session and run
them, so every test unwinds real register + stack snapshots of a real process."""

from __future__ import annotations

import pytest

from .workload_build import C_VARIANTS, build_c, build_rust, take_snapshots

RUST_ROUNDS = 12


@pytest.fixture(scope="session")
def c_snapshots(tmp_path_factory):
    """``variant -> (executable, snapshot directory)`` for every C variant."""
    base = tmp_path_factory.mktemp("unwind_c")
    result = {}
    for variant in C_VARIANTS:
        exe = build_c(base, variant)
        result[variant] = (exe, take_snapshots(exe, base / f"snap_{variant}"))
    return result


@pytest.fixture(scope="session")
def rust_snapshots(tmp_path_factory):
    """``(executable, snapshot directory, count)`` of the Rust release workload."""
    base = tmp_path_factory.mktemp("unwind_rust")
    exe = build_rust(base)
    out = take_snapshots(exe, base / "snaps", str(RUST_ROUNDS))
    return exe, out, len(list(out.glob("*.snap")))
