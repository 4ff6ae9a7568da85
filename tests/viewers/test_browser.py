"""Our profile of a real workload in real viewers, in headless Chromium: our HTML flame graph
(search, zoom, title), speedscope (our pprof and our speedscope JSON) and go tool pprof's web UI.

The profile is the profiler's pprof of the call-tree workload (main → run → alpha → leaf_one,
run → beta → gamma_ → leaf_two, beta → leaf_three); the HTML and speedscope files are rendered
from that pprof exactly as ``-o x.html`` / ``-o x.speedscope.json`` render them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from pprof_encoder.top import top_rows
from profiler.output.formats import render
from profiler.output.title import ProfileTitle

from .cdp import CDPError
from .tools import go, speedscope_release

pytestmark = pytest.mark.bpf

LEAVES = ("leaf_one", "leaf_two", "leaf_three")
NAMES = ("main", "run", "alpha", "beta", "gamma_", *LEAVES)


@pytest.fixture(scope="module")
def html_page(calltree_profile, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "calltree.html"
    path.write_bytes(render(calltree_profile.profile, "html"))
    return path


def open_page(browser, url: str):
    """A new tab at ``url``, with the URLs of every request it made recorded."""
    page = browser.new_page()
    page.call("Network.enable")
    page.goto(url)
    return page


def requested_urls(browser, page) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in browser._events
        if e.get("sessionId") == page.session and e["method"] == "Network.requestWillBeSent"
    ]


def pprof_share(profile, name: str) -> float:
    """The share of the default sample type in stacks that hold ``name`` (pprof's cum%)."""
    index = profile.sample_index()
    rows, total = top_rows(profile, index)
    return 100.0 * next(r.cum for r in rows if r.name == name) / total


def matched_percent(page) -> float:
    text = page.wait_for(
        "(t => t.startsWith('Matched') && t)(document.getElementById('matched').textContent)",
        what="the matched share",
    )
    return float(re.match(r"Matched: ([\d.]+)%", text).group(1))


def test_search_shows_the_share_of_a_leaf_as_the_pprof_has_it(browser, calltree_profile, html_page):
    page = open_page(browser, html_page.as_uri())
    for leaf in LEAVES:
        page.evaluate("document.getElementById('search').value = ''")
        page.type_text("#search", leaf)
        shown = matched_percent(page)
        expected = pprof_share(calltree_profile.profile, leaf)
        assert abs(shown - expected) <= 1.0, f"{leaf}: page {shown}% vs pprof {expected:.2f}%"
        highlighted = page.evaluate(f"pureprofFlame.nodesNamed({json.dumps(leaf)}).length")
        assert highlighted >= 1
    assert page.errors() == []
    # Self-contained: the page made no request but for itself.
    assert requested_urls(browser, page) == [html_page.as_uri()]


def test_a_click_zooms_to_that_frame_and_reset_goes_back(browser, html_page):
    page = open_page(browser, html_page.as_uri())
    width = page.evaluate("document.getElementById('flame').getBoundingClientRect().width")
    nodes = page.evaluate("pureprofFlame.nodesNamed('beta')")
    rects = {n: page.evaluate(f"pureprofFlame.clientRect({n})") for n in nodes}
    beta = max((n for n in nodes if rects[n]), key=lambda n: rects[n]["width"])
    before = rects[beta]
    assert before["width"] < 0.9 * width  # alpha takes the rest of run
    page.click(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
    page.wait_for(f"pureprofFlame.zoomed() === {beta}", what="the zoom to beta")
    after = page.evaluate(f"pureprofFlame.clientRect({beta})")
    assert abs(after["y"] - before["y"]) < 0.5  # the same row: nothing moved
    assert abs(after["width"] - width) < 0.5  # now full width
    # What the hit test finds at both ends of that row is beta.
    y = after["y"] + after["height"] / 2
    assert page.evaluate(f"pureprofFlame.nodeAt({after['x'] + 1}, {y})") == beta
    assert page.evaluate(f"pureprofFlame.nodeAt({after['x'] + width - 2}, {y})") == beta
    assert page.text("#zoomed") == "Zoomed to: beta"
    assert page.text("#details").startswith("beta")
    # Its callees fill it: gamma_ and leaf_three are drawn, alpha (a sibling) is not.
    widths = {
        name: sum(
            (page.evaluate(f"pureprofFlame.clientRect({n})") or {"width": 0})["width"]
            for n in page.evaluate(f"pureprofFlame.nodesNamed({json.dumps(name)})")
        )
        for name in ("gamma_", "leaf_three", "alpha")
    }
    assert widths["alpha"] == 0
    assert widths["gamma_"] + widths["leaf_three"] > 0.9 * width
    page.evaluate("document.getElementById('reset').click()")
    page.wait_for("pureprofFlame.zoomed() === 0", what="the reset")
    assert abs(page.evaluate(f"pureprofFlame.clientRect({beta})")["width"] - before["width"]) < 0.5


def test_the_title_shows_the_command_pid_host_and_sample_type(browser, calltree_profile, html_page):
    page = open_page(browser, html_page.as_uri())
    heading = page.text("#command")
    assert heading == f"{calltree_profile.binary} 2 wait"  # the workload's command line
    subtitle = page.text("#subtitle")
    assert f"pid {calltree_profile.pid}" in subtitle
    assert f"host {socket.gethostname()}" in subtitle
    assert "sample type cpu/nanoseconds" in subtitle
    day = time.strftime("%Y-%m-%d", time.gmtime(calltree_profile.profile.time_nanos / 1e9))
    assert f"date {day}" in subtitle
    assert re.search(r"duration \d+\.\d s", subtitle)
    assert page.evaluate("document.title").startswith(heading)


def test_icicle_puts_the_root_on_top(browser, html_page):
    page = open_page(browser, html_page.as_uri())
    leaf = page.evaluate("pureprofFlame.nodesNamed('leaf_two')[0]")
    root_y = lambda: page.evaluate("pureprofFlame.clientRect(0).y")  # noqa: E731
    leaf_y = lambda: page.evaluate(f"pureprofFlame.clientRect({leaf}).y")  # noqa: E731
    assert root_y() > leaf_y()  # flame: root at the bottom
    page.evaluate("document.getElementById('orientation').click()")
    page.wait_for("pureprofFlame.icicle()")
    assert root_y() < leaf_y()


def speedscope_shows(browser, web_server, file_url: str, names) -> str:
    """Open ``file_url`` in speedscope's sandwich view (a table of every function); return the
    page text once all ``names`` are in it."""
    release = speedscope_release()
    if not os.path.exists(os.path.join(web_server.root, "speedscope")):
        os.symlink(release, os.path.join(web_server.root, "speedscope"))
    url = (
        web_server.url("speedscope/index.html")
        + "#profileURL="
        + urllib.parse.quote(file_url, safe="")
        + "&view=sandwich"
    )
    page = open_page(browser, url)
    check = " && ".join(f"document.body.innerText.includes({json.dumps(n)})" for n in names)
    try:
        page.wait_for(check, timeout=20, what=f"{names} in speedscope")
    except CDPError:
        raise AssertionError(f"speedscope shows: {page.text()[:2000]}") from None
    # Served from localhost only.
    assert all(u.startswith(web_server.url("")) for u in requested_urls(browser, page))
    return page.text()


def test_speedscope_opens_our_pprof(browser, web_server, calltree_profile):
    url = web_server.add(calltree_profile.path)
    speedscope_shows(browser, web_server, url, NAMES)


def test_speedscope_opens_our_speedscope_json(browser, web_server, calltree_profile, tmp_path):
    path = tmp_path / "calltree.speedscope.json"
    path.write_bytes(render(calltree_profile.profile, "speedscope"))
    text = speedscope_shows(browser, web_server, web_server.add(str(path)), NAMES)
    title = ProfileTitle.from_profile(calltree_profile.profile)
    comm = next(
        lb.str
        for s in calltree_profile.profile.samples
        for lb in s.labels
        if lb.key == "process_name"
    )
    assert f"{comm} (pid {calltree_profile.pid}): {comm} (tid {calltree_profile.pid})" in text
    assert title.command in json.loads(path.read_text())["name"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_go_tool_pprof_flame_graph_shows_the_functions(browser, calltree_profile):
    # The pprof tool itself, not `go tool pprof`: go runs it as a child process, which killing
    # go would leave serving.
    tool = subprocess.run(
        [go(), "tool", "-n", "pprof"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    for _attempt in range(3):  # the port was free a moment ago; another process may take it
        port = _free_port()
        proc = subprocess.Popen(
            [
                tool,
                f"-http=127.0.0.1:{port}",
                "-no_browser",
                calltree_profile.path,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(base + "/ui/flamegraph", timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            if proc.poll() is not None:
                continue  # it could not listen: try another port
            page = open_page(browser, base + "/ui/flamegraph")
            check = " && ".join(f"document.body.innerHTML.includes({json.dumps(n)})" for n in NAMES)
            page.wait_for(check, timeout=20, what="the function names in pprof's flame graph")
            drawn = page.evaluate(
                "Array.from(document.querySelectorAll('svg title, svg text'))"
                ".map(e => e.textContent).join('\\n')"
            )
            for name in NAMES:
                assert name in drawn, f"{name} not drawn in pprof's flame graph"
            return
        finally:
            proc.kill()
            proc.wait()
    pytest.fail(f"go tool pprof -http never served: {proc.stdout.read()[-2000:]}")
