"""An interactive flame graph in one self-contained HTML page (no network: script, style and data
are inline).

The call tree is aggregated here (:mod:`.call_tree`) and shipped as compact JSON: interned strings,
one row per distinct frame (name, file, binary, kind, colour), and the nodes in preorder as
parallel integer arrays (frame, depth, total, line, sample count), values divided by their common
factor (the sampling period, for CPU time). The page draws on one canvas and offers search with
highlighting and the matched share, click to zoom (Escape or Reset to go back), a details bar
(function, file:line, binary, self and total with their share and sample counts), a flame/icicle
toggle, and the title (command, pids, host, duration, date, sample type). Frame kinds (native,
Python, JIT, async, kernel) have their own colours: :mod:`.palette`, shared with the SVG.
"""

from __future__ import annotations

import json
import math
from html import escape
from importlib import resources

from pprof_encoder.profile import Profile

from .call_tree import CallTree, build_call_tree
from .frame_kinds import KINDS
from .palette import LEGEND, MATCH, PROCESS, css_color, frame_color, legend_color
from .title import ProfileTitle

_KIND_ORDER = (*KINDS, PROCESS)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _rgb_int(rgb: tuple[int, int, int]) -> int:
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def tree_payload(tree: CallTree) -> dict:
    """The JSON-ready form of ``tree`` the page's script reads."""
    strings: list[str] = [""]
    index: dict[str, int] = {"": 0}

    def intern(s: str) -> int:
        i = index.get(s)
        if i is None:
            i = index[s] = len(strings)
            strings.append(s)
        return i

    kind_index = {k: i for i, k in enumerate(_KIND_ORDER)}
    frames = {"name": [], "file": [], "module": [], "kind": [], "color": []}
    for f in tree.frames:
        frames["name"].append(intern(f.name))
        frames["file"].append(intern(f.file))
        frames["module"].append(intern(f.module))
        frames["kind"].append(kind_index[f.kind])
        frames["color"].append(_rgb_int(frame_color(f.kind, f.name)))
    # Values share a factor (count x period for CPU time): ship the small numbers.
    scale = 0
    for v in tree.total:
        scale = math.gcd(scale, v)
    scale = scale or 1
    nodes = {
        "frame": tree.frame,
        "depth": tree.depth,
        "total": [v // scale for v in tree.total],
        "line": tree.line,
        "count": tree.count,
    }
    vt, ct = tree.value_type, tree.count_type
    return {
        "strings": strings,
        "frames": frames,
        "nodes": nodes,
        "scale": scale,
        "valueType": {"type": vt.type, "unit": vt.unit},
        "countType": {"type": ct.type, "unit": ct.unit} if ct else None,
        "kinds": list(_KIND_ORDER),
        "match": _rgb_int(MATCH),
    }


def _script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, ``<!--`` or U+2028 can appear."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    # Outside strings JSON has none of these characters, so escaping them keeps it JSON.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(
    profile: Profile,
    *,
    title: ProfileTitle,
    sample_index: int | None = None,
    by_process: bool = True,
) -> str:
    """The flame graph page of one sample type of ``profile`` (its default type unless given)."""
    if sample_index is None:
        sample_index = profile.sample_index()
    tree = build_call_tree(profile, sample_index, by_process=by_process)
    vt = tree.value_type
    if not title.sample_type:
        title = title.with_sample_type(f"{vt.type}/{vt.unit}")
    details = '<span class="sep"> · </span>'.join(
        f"<span><b>{escape(label)}</b> {escape(text)}</span>" for label, text in title.details()
    )
    present = {f.kind for f in tree.frames}
    legend = "".join(
        f'<span><i style="background:{css_color(legend_color(k))}"></i>{escape(LEGEND[k])}</span>'
        for k in _KIND_ORDER
        if k in present
    )
    notice = ""
    if tree.hidden_nodes:
        share = 100.0 * tree.max_hidden / (tree.total[0] or 1)
        notice = (
            f'<p id="notice">{tree.hidden_nodes:,} frames of at most {share:.4f}% each are not '
            "drawn (too many to ship); their time counts in their callers' self time and search "
            "does not see them.</p>"
        )
    return _PAGE.format(
        page_title=escape(f"{title.heading()} — flame graph"),
        heading=escape(title.heading()),
        details=details,
        notice=notice,
        legend=legend,
        css=_asset("flamegraph_page.css"),
        data=_script_json(tree_payload(tree)),
        script=_asset("flamegraph_page.js"),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pureprof">
<title>{page_title}</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1 id="command">{heading}</h1>
<p id="subtitle">{details}</p>
{notice}</header>
<div id="controls">
<input id="search" type="search" placeholder="Search (text, or /regex/)" autocomplete="off"
 aria-label="Search functions">
<span id="matched" aria-live="polite"></span>
<button id="reset" disabled>Reset zoom</button>
<span id="zoomed"></span>
<button id="orientation" title="Root at the top">Icicle</button>
<span id="legend">{legend}</span>
</div>
<div id="chart"><canvas id="flame"></canvas><div id="hover"></div></div>
<div id="details"></div>
<script type="application/json" id="profile-data">{data}</script>
<script>
{script}</script>
</body>
</html>
"""
