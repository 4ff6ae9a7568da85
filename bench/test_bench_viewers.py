"""The HTML flame graph on 100 000-sample profiles: Python render time, and load, search and zoom
times in headless Chromium, with speedscope loading the same profile (our speedscope JSON) as the
peer, measured in the same run.

Profiles (tests/viewers/synthetic.py), all 100 000 samples:
- ``unique``: every sample a distinct stack (trunks plus random tails): 2.4 M tree nodes, the
  worst case; the page ships the heaviest 400 000.
- ``callgraph``: walks down a call graph with hot paths: about 1 M nodes (shipped: 400 000).
- ``shared``: 10 000 distinct stacks of 10 samples: 248 000 nodes, all shipped.

Chromium times come from the page itself (``performance.now()`` since navigation start when the
first frame is drawn; search = matching and redrawing). speedscope's load time is the wall time
from navigation until its profile name is on the page (polled every 20 ms).

Run: python -m pytest bench/test_bench_viewers.py -p no:cacheprovider -s
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.parse

import pytest

from profiler.output.call_tree import build_call_tree
from profiler.output.html_flamegraph import render_html
from profiler.output.speedscope import render_speedscope
from profiler.output.title import ProfileTitle
from tests.viewers.cdp import Browser
from tests.viewers.conftest import web_server  # noqa: F401 - a fixture used below
from tests.viewers.synthetic import callgraph_profile, wide_profile
from tests.viewers.tools import chromium, speedscope_release

SHAPES = {
    "unique": lambda: wide_profile(100_000, 100_000),
    "callgraph": callgraph_profile,
    "shared": lambda: wide_profile(100_000, 10_000),
}
ROUNDS = 3
results: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def browser():
    with Browser(chromium(), timeout=120) as b:
        yield b


@pytest.mark.parametrize("shape", list(SHAPES))
def test_html_flame_graph_speed(shape, browser, web_server, tmp_path):  # noqa: F811
    profile = SHAPES[shape]()
    title = ProfileTitle(command=f"synthetic {shape}")
    t = time.perf_counter()
    tree = build_call_tree(profile)
    tree_s = time.perf_counter() - t
    t = time.perf_counter()
    page_text = render_html(profile, title=title)
    render_s = time.perf_counter() - t
    full_nodes = len(tree.frame) + tree.hidden_nodes
    html = tmp_path / f"{shape}.html"
    html.write_text(page_text)
    ss_path = tmp_path / f"{shape}.speedscope.json"
    ss_path.write_text(render_speedscope(profile, title=title, per="process"))

    page = browser.new_page()
    loads, searches, zooms = [], [], []
    for _ in range(ROUNDS):
        page.goto(html.as_uri(), timeout=120)
        loads.append(page.evaluate("pureprofFlame.timings.firstDraw"))
        page.evaluate("document.getElementById('search').value = ''")
        page.type_text("#search", "function_1")
        page.wait_for("document.getElementById('matched').textContent.startsWith('Matched')")
        searches.append(page.evaluate("pureprofFlame.timings.search"))
        node = page.evaluate("pureprofFlame.nodesNamed('proc3')[0]")
        r = page.evaluate(f"pureprofFlame.clientRect({node})")
        page.click(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
        page.wait_for(f"pureprofFlame.zoomed() === {node}")
        zooms.append(page.evaluate("pureprofFlame.timings.draw"))
    assert page.errors() == []

    release = speedscope_release()
    link = os.path.join(web_server.root, "speedscope")
    if not os.path.exists(link):
        os.symlink(release, link)
    url = (
        web_server.url("speedscope/index.html")
        + "#profileURL="
        + urllib.parse.quote(web_server.add(str(ss_path)), safe="")
    )
    peer = []
    for _ in range(ROUNDS):
        ss = browser.new_page()
        t = time.perf_counter()
        ss.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + 120
        while not ss.evaluate("document.body && document.body.innerText.includes('proc0 (pid')"):
            assert time.monotonic() < deadline, "speedscope did not load the profile"
            time.sleep(0.02)
        peer.append((time.perf_counter() - t) * 1000)
        browser.call("Target.closeTarget", {"targetId": ss.target})
    results[shape] = {
        "nodes (all / shipped)": f"{full_nodes} / {len(tree.frame)}",
        "page MB": round(len(page_text) / 1e6, 1),
        "tree s": round(tree_s, 2),
        "render s": round(render_s, 2),
        "first draw ms": round(statistics.median(loads)),
        "search ms": round(statistics.median(searches), 1),
        "zoom draw ms": round(statistics.median(zooms), 1),
        "speedscope load ms": round(statistics.median(peer)),
        "ratio load ours/speedscope": round(statistics.median(loads) / statistics.median(peer), 2),
    }
    print(f"\n{shape}: {json.dumps(results[shape])}")
