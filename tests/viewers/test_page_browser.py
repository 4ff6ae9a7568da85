"""Our HTML page in headless Chromium on made-up profiles (no root needed): an empty profile,
hostile function names, a large profile, the keyboard."""

from __future__ import annotations

import json

from pprof_encoder import ProfileBuilder
from profiler.output.formats import render

from .synthetic import wide_profile
from .test_pages import HOSTILE, profile_with


def load(browser, tmp_path, profile, name="page.html"):
    path = tmp_path / name
    path.write_bytes(render(profile, "html"))
    page = browser.new_page()
    page.goto(path.as_uri())
    return page


def test_an_empty_profile_is_a_page_too(browser, tmp_path):
    page = load(browser, tmp_path, ProfileBuilder([("samples", "count")]).build())
    assert page.evaluate("pureprofFlame.nodes") == 1
    page.type_text("#search", "main")
    text = page.wait_for("document.getElementById('matched').textContent")
    assert text.startswith("Matched: 0%")
    assert page.errors() == []


def test_hostile_names_stay_text(browser, tmp_path):
    page = load(browser, tmp_path, profile_with([HOSTILE, "leaf"]))
    assert page.evaluate("document.querySelectorAll('script').length") == 2
    [node] = page.evaluate(f"pureprofFlame.nodesNamed({json.dumps(HOSTILE)})")
    r = page.evaluate(f"pureprofFlame.clientRect({node})")
    page.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
    page.wait_for(f"pureprofFlame.zoomed() === {node}")
    assert page.text("#details").startswith(HOSTILE)
    assert page.errors() == []


def test_a_large_profile_loads_and_searches(browser, tmp_path):
    profile = wide_profile(100_000, 10_000)  # 248 000 tree nodes
    page = load(browser, tmp_path, profile, "large.html")
    assert page.evaluate("pureprofFlame.nodes") > 200_000
    page.type_text("#search", "function_7")
    text = page.wait_for(
        "(t => t.startsWith('Matched') && t)(document.getElementById('matched').textContent)"
    )
    assert text.startswith("Matched: ")
    timings = page.evaluate("pureprofFlame.timings")
    # Loose bounds (a shared machine): they catch a quadratic regression, not a slow moment.
    assert timings["firstDraw"] < 10_000 and timings["search"] < 2_000, timings
    assert page.errors() == []


def test_escape_zooms_out_and_slash_focuses_the_search(browser, tmp_path):
    page = load(browser, tmp_path, profile_with(["leaf", "other"]))
    [node] = page.evaluate("pureprofFlame.nodesNamed('leaf')")
    r = page.evaluate(f"pureprofFlame.clientRect({node})")
    page.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
    page.wait_for(f"pureprofFlame.zoomed() === {node}")
    for kind in ("keyDown", "keyUp"):
        page.call(
            "Input.dispatchKeyEvent",
            {"type": kind, "key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
        )
    page.wait_for("pureprofFlame.zoomed() === 0")
    page.call(
        "Input.dispatchKeyEvent",
        {"type": "keyDown", "key": "/", "code": "Slash", "windowsVirtualKeyCode": 191},
    )
    assert page.evaluate("document.activeElement.id") == "search"


def test_values_are_shown_in_their_unit(browser, tmp_path):
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        10_000_000,
        default_sample_type="cpu",
    )
    b.add_sample(["busy", "main"], [138_000, 1_380_000_000_000], {})  # 1 380 s
    b.add_sample(["short", "main"], [12_000, 120_000_000_000], {})  # 120 s
    page = load(browser, tmp_path, b.build())
    assert page.text("#details").splitlines()[1] == "all: 1500 s · 150,000 samples"
    [node] = page.evaluate("pureprofFlame.nodesNamed('short')")
    r = page.evaluate(f"pureprofFlame.clientRect({node})")
    page.call(
        "Input.dispatchMouseEvent",
        {"type": "mouseMoved", "x": r["x"] + r["width"] / 2, "y": r["y"] + r["height"] / 2},
    )
    page.wait_for("document.getElementById('details').innerText.startsWith('short')")
    assert "total 120 s (8.00%), self 120 s (8.00%) · 12,000 samples total, 12,000 self" in (
        page.text("#details")
    )
