"""Async-aware stacks of a real Tokio service, sampled live, and the raw stack with them off."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import bpf_objects_held_by
from tests.dwarf_async.builds import build_tokio_app
from tests.support import require_tool, thread_count, wait_for

from .profiles import load, stacks_of
from .test_profile_live import run_cli

pytestmark = pytest.mark.bpf

LEAF = "tokio_app::crunch"
LOGICAL = ("tokio_app::crunch", "tokio_app::compute", "tokio_app::handler")


def profile_tokio(variant: str, tmp_path, *flags: str) -> tuple[dict, int]:
    binary = build_tokio_app(variant)
    app = subprocess.Popen([binary, "8"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: thread_count(app.pid) > 1, what="the Tokio runtime's workers")
        out = tmp_path / f"{variant}.pb.gz"
        res = run_cli(
            "--pid", str(app.pid), "--freq", "499", "--duration", "4", "-o", str(out), "-q", *flags
        )
        assert res.returncode == 0, res.stderr
    finally:
        app.kill()
        app.wait()
    return stacks_of(load(str(out)), app.pid), app.pid


def leaf_stacks(stacks: dict) -> dict:
    """Stacks whose user part holds the CPU-heavy leaf (inlined frames expanded)."""
    return {s: c for s, c in stacks.items() if LEAF in s}


@pytest.mark.parametrize("variant", ["legacy_fp", "v0_fp_dwarf5"])
def test_logical_stack_of_the_cpu_heavy_leaf(tmp_path, variant):
    stacks, _ = profile_tokio(variant, tmp_path)
    leafs = leaf_stacks(stacks)
    total = sum(leafs.values())
    assert total > 200, stacks.most_common(5)
    good = 0
    for stack, count in leafs.items():
        # Async frames are marked in pprof with an " [async]" suffix.
        names = [n.removesuffix(" [async]") for n in stack]
        at = names.index(LEAF)
        logical = tuple(names[at : at + 3])
        rest = names[at + 3 :]
        # Above the handler: only the worker thread's root, no runtime machinery.
        if logical == LOGICAL and len(rest) == 1 and not any("tokio::runtime" in n for n in rest):
            good += count
    assert good / total >= 0.95, sorted(leafs.items(), key=lambda kv: -kv[1])[:3]
    assert any(n.endswith(" [async]") for s in leafs for n in s)


def test_go_tool_pprof_shows_the_async_names(tmp_path):
    go = require_tool("go")
    binary = build_tokio_app("legacy_fp")
    app = subprocess.Popen([binary, "6"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: thread_count(app.pid) > 1, what="the Tokio runtime's workers")
        out = tmp_path / "t.pb.gz"
        res = run_cli(
            "--pid", str(app.pid), "--duration", "2", "--freq", "299", "-o", str(out), "-q"
        )
        assert res.returncode == 0, res.stderr
    finally:
        app.kill()
        app.wait()
    top = subprocess.run(
        [go, "tool", "pprof", "-top", "-cum", str(out)], capture_output=True, text=True, timeout=120
    )
    assert top.returncode == 0, top.stderr
    for name in ("tokio_app::handler", "tokio_app::compute", "tokio_app::crunch"):
        assert name in top.stdout


def test_async_stacks_off_keeps_the_raw_native_stack(tmp_path):
    stacks, _ = profile_tokio("legacy_fp", tmp_path, "--async-stacks", "off")
    leafs = leaf_stacks(stacks)
    total = sum(leafs.values())
    assert total > 200
    raw = sum(c for s, c in leafs.items() if any(n.startswith("tokio::runtime") for n in s))
    closures = sum(c for s, c in leafs.items() if any("{{closure}}" in n for n in s))
    assert raw / total > 0.9 and closures / total > 0.9
    # The thread-name root the async view adds is not there.
    assert not any(s[-1].startswith("tokio-runtime") for s in leafs)


def test_spawn_links_show_the_spawner_under_a_spawned_task(tmp_path):
    stacks, _ = profile_tokio("legacy_fp", tmp_path, "--spawn-links")
    background = {s: c for s, c in stacks.items() if "tokio_app::crunch_more" in s}
    total = sum(background.values())
    assert total > 50, stacks.most_common(3)
    linked = 0
    for stack, count in background.items():
        names = [n.removesuffix(" [async]") for n in stack]
        at = names.index("tokio_app::background")
        if names[at + 1 : at + 3] == ["[spawn]", "tokio_app::handler"]:
            linked += count
    # Tasks spawned before the probes were attached have no link: most are spawned after.
    assert linked / total >= 0.8, sorted(background.items(), key=lambda kv: -kv[1])[:3]
    assert bpf_objects_held_by(os.getpid()) == []
