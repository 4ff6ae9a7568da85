"""A self-contained SVG flame graph (no network, no external script), for people who would rather
look than read.

Input is the folded form: stacks root first with a count. Frame widths are proportional to
their inclusive counts; each frame has a ``<title>`` tooltip with its name, count and share.
Output is deterministic: same input, same bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from html import escape

WIDTH = 1200
FRAME_HEIGHT = 16
FONT_SIZE = 12
CHAR_WIDTH = 7.0  # approximate width of one character at FONT_SIZE in a monospace-ish font
MIN_WIDTH = 0.3  # frames narrower than this (pixels) are not drawn


class _Node:
    __slots__ = ("children", "name", "total")

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.children: dict[str, _Node] = {}


def _build_tree(stacks: Iterable[tuple[Sequence[str], int]]) -> _Node:
    root = _Node("all")
    for frames, count in stacks:
        if count <= 0:
            continue
        root.total += count
        node = root
        for name in frames:
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(name)
            child.total += count
            node = child
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _color(name: str) -> str:
    """A stable warm colour per function; kernel frames (``_[k]`` suffix) in orange-brown."""
    h = zlib.crc32(name.encode())
    if name.endswith("_[k]"):
        return f"rgb({200 + h % 55},{110 + (h >> 8) % 50},{40 + (h >> 16) % 30})"
    if name.endswith("_[j]"):
        return f"rgb({60 + h % 40},{170 + (h >> 8) % 60},{60 + (h >> 16) % 40})"
    return f"rgb({225 + h % 30},{(h >> 8) % 180 + 40},{(h >> 16) % 55})"


def render_flamegraph(stacks: Iterable[tuple[Sequence[str], int]], title: str = "") -> str:
    """Render stacks (root first, with counts) as an SVG flame graph document."""
    root = _build_tree(stacks)
    depth = _depth(root)
    height = (depth + 2) * FRAME_HEIGHT + 40
    total = root.total or 1
    scale = (WIDTH - 20) / total
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        "<style>text{font-family:Verdana,sans-serif;font-size:"
        f"{FONT_SIZE}px;fill:#000;pointer-events:none}}rect:hover{{stroke:#000;stroke-width:0.5}}"
        "</style>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f8"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" style="font-size:16px">'
        f"{escape(title or 'Flame Graph')}</text>",
    ]

    def draw(node: _Node, x: float, level: int) -> None:
        w = node.total * scale
        if w < MIN_WIDTH:
            return
        y = height - (level + 1) * FRAME_HEIGHT - 10
        share = 100.0 * node.total / total
        label = escape(node.name)
        out.append(
            f"<g><title>{label} ({node.total} samples, {share:.2f}%)</title>"
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{FRAME_HEIGHT - 1}" '
            f'fill="{_color(node.name)}" rx="2"/>'
        )
        chars = int((w - 6) / CHAR_WIDTH)
        if chars >= 3:
            text = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            out.append(f'<text x="{x + 3:.2f}" y="{y + FRAME_HEIGHT - 4}">{escape(text)}</text>')
        out.append("</g>")
        child_x = x
        # Children sorted by name: the classic flame graph order, and deterministic.
        for name in sorted(node.children):
            child = node.children[name]
            draw(child, child_x, level + 1)
            child_x += child.total * scale

    draw(root, 10.0, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"
