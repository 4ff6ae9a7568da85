"""A self-contained SVG flame graph (no network, no script), for people who would rather look than
read, and for places that show images but run no script.

Rendered from the same call tree (:mod:`.call_tree`), title (:mod:`.title`) and palette
(:mod:`.palette`) as the HTML page: frame widths are proportional to their inclusive values; each
frame has a ``<title>`` tooltip with its name, sample count (or value) and share. Output is
deterministic: same profile, same bytes.
"""

from __future__ import annotations

from html import escape

from pprof_encoder.profile import Profile
from pprof_encoder.top import format_value

from .call_tree import CallTree, build_call_tree
from .frame_kinds import KINDS
from .palette import LEGEND, PROCESS, css_color, frame_color, legend_color
from .title import ProfileTitle

WIDTH = 1200
FRAME_HEIGHT = 16
FONT_SIZE = 12
CHAR_WIDTH = 7.0  # approximate width of one character at FONT_SIZE in a monospace-ish font
MIN_WIDTH = 0.3  # frames narrower than this (pixels) are not drawn, nor their callees
HEADER = 62  # room for the title, the details line and the legend


def _tooltip(tree: CallTree, node: int, name: str) -> str:
    share = 100.0 * tree.total[node] / (tree.total[0] or 1)
    if tree.count is not None:
        return f"{name} ({tree.count[node]} samples, {share:.2f}%)"
    unit = tree.value_type.unit
    what = "samples" if unit == "count" else format_value(tree.total[node], unit)
    if unit == "count":
        what = f"{tree.total[node]} {what}"
    return f"{name} ({what}, {share:.2f}%)"


def render_svg(
    profile: Profile,
    *,
    title: ProfileTitle,
    sample_index: int | None = None,
    by_process: bool = True,
) -> str:
    """Render one sample type of ``profile`` (its default type unless given) as an SVG document."""
    if sample_index is None:
        sample_index = profile.sample_index()
    tree = build_call_tree(profile, sample_index, by_process=by_process)
    vt = tree.value_type
    if not title.sample_type:
        title = title.with_sample_type(f"{vt.type}/{vt.unit}")
    depth = max(tree.depth) + 1
    height = HEADER + depth * FRAME_HEIGHT + 10
    total = tree.total[0] or 1
    scale = (WIDTH - 20) / total
    details = " · ".join(f"{label} {text}" for label, text in title.details())
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        "<style>text{font-family:Verdana,sans-serif;font-size:"
        f"{FONT_SIZE}px;fill:#000;pointer-events:none}}rect:hover{{stroke:#000;stroke-width:0.5}}"
        ".sub{fill:#555}</style>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f8"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" style="font-size:16px">'
        f"{escape(title.heading())}</text>",
        f'<text class="sub" x="{WIDTH / 2}" y="38" text-anchor="middle">{escape(details)}</text>',
    ]
    present = {f.kind for f in tree.frames}
    lx = 10.0
    for kind in (*KINDS, PROCESS):
        if kind not in present:
            continue
        out.append(
            f'<rect x="{lx:.0f}" y="47" width="10" height="10" rx="2" '
            f'fill="{css_color(legend_color(kind))}"/>'
            f'<text x="{lx + 14:.0f}" y="56">{escape(LEGEND[kind])}</text>'
        )
        lx += 14 + CHAR_WIDTH * len(LEGEND[kind]) + 14

    # Preorder with each node's left edge: a node starts where its previous sibling ended.
    left = [0.0] * len(tree.frame)
    used: list[float] = [0.0] * len(tree.frame)
    parents: list[int] = [0]
    skip_below = -1  # depth under which frames are too narrow to draw
    left[0] = 10.0
    for i, fid in enumerate(tree.frame):
        d = tree.depth[i]
        if i:
            del parents[d:]
            p = parents[-1]
            left[i] = left[p] + used[p]
            used[p] += tree.total[i] * scale
            parents.append(i)
        if skip_below >= 0:
            if d > skip_below:
                continue
            skip_below = -1
        w = tree.total[i] * scale
        if w < MIN_WIDTH:
            skip_below = d
            continue
        if fid < 0:
            name, fill = "all", "#d8d8d8"
        else:
            frame = tree.frames[fid]
            name, fill = frame.name, css_color(frame_color(frame.kind, frame.name))
        x = left[i]
        y = height - (d + 1) * FRAME_HEIGHT - 10
        out.append(
            f"<g><title>{escape(_tooltip(tree, i, name))}</title>"
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{FRAME_HEIGHT - 1}" '
            f'fill="{fill}" rx="2"/>'
        )
        chars = int((w - 6) / CHAR_WIDTH)
        if chars >= 3:
            text = name if len(name) <= chars else name[: chars - 2] + ".."
            out.append(f'<text x="{x + 3:.2f}" y="{y + FRAME_HEIGHT - 4}">{escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
