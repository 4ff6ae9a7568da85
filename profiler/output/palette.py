"""Frame colours shared by the HTML and SVG flame graphs: a hue family per frame kind, the exact
shade from a hash of the name (stable across runs and files, so a function keeps its colour).

Families: native code warm red to yellow (the classic flame graph), Python blue, JIT green, async
violet, kernel a muted tan, the process level grey. Search matches are drawn in ``MATCH``.
"""

from __future__ import annotations

import colorsys
import zlib

from .frame_kinds import ASYNC, JIT, KERNEL, NATIVE, PYTHON

PROCESS = "process"  # the synthetic level of process names above the stacks

# kind -> (hue from, hue to) in degrees, saturation, lightness from, lightness to.
_FAMILIES: dict[str, tuple[float, float, float, float, float]] = {
    NATIVE: (0, 50, 0.80, 0.55, 0.66),
    PYTHON: (195, 225, 0.65, 0.62, 0.74),
    JIT: (95, 140, 0.50, 0.52, 0.64),
    ASYNC: (255, 280, 0.55, 0.70, 0.80),
    KERNEL: (25, 40, 0.35, 0.58, 0.68),
    PROCESS: (0, 0, 0.0, 0.70, 0.80),
}
MATCH = (238, 0, 238)  # search matches: flamegraph.pl's magenta
LEGEND = {
    NATIVE: "native",
    PYTHON: "Python",
    JIT: "JIT",
    ASYNC: "async",
    KERNEL: "kernel",
    PROCESS: "process",
}


def frame_color(kind: str, name: str) -> tuple[int, int, int]:
    """The (r, g, b) colour of a frame of ``kind`` named ``name`` (deterministic)."""
    hue0, hue1, sat, light0, light1 = _FAMILIES.get(kind, _FAMILIES[NATIVE])
    h = zlib.crc32(name.encode("utf-8", "surrogatepass"))
    hue = hue0 + (hue1 - hue0) * ((h & 0xFFFF) / 0xFFFF)
    light = light0 + (light1 - light0) * ((h >> 16) / 0xFFFF)
    r, g, b = colorsys.hls_to_rgb(hue / 360.0, light, sat)
    return round(r * 255), round(g * 255), round(b * 255)


def css_color(rgb: tuple[int, int, int]) -> str:
    """``#rrggbb`` for an (r, g, b) triple."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def legend_color(kind: str) -> tuple[int, int, int]:
    """A representative colour of ``kind`` (the middle of its family), for legends."""
    hue0, hue1, sat, light0, light1 = _FAMILIES[kind]
    r, g, b = colorsys.hls_to_rgb((hue0 + hue1) / 720.0, (light0 + light1) / 2, sat)
    return round(r * 255), round(g * 255), round(b * 255)
