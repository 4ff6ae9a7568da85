"""The profiler's output formats: their names, the file names that ask for them, and one
``render`` from a pprof profile to the bytes of a file.

Every file format renders from the one ``pprof_encoder`` profile the profiler builds (the title
rides in its comments, see :mod:`.title`). Folded stacks and OTLP are still written from the
collected samples by :mod:`.collected` (their process level and per-process resources come
from labels the pprof flattens), so ``render`` handles the others.
"""

from __future__ import annotations

import gzip
import os

from pprof_encoder.profile import Profile

from .title import ProfileTitle

FORMATS = ("pprof", "folded", "otlp", "svg", "html", "speedscope")

# Longest first: ".speedscope.json" before any ".json" rule, ".pb.gz" before ".gz".
_SUFFIXES = (
    (".speedscope.json", "speedscope"),
    (".pb.gz", "pprof"),
    (".pprof", "pprof"),
    (".prof", "pprof"),
    (".pb", "pprof"),
    (".gz", "pprof"),
    (".folded", "folded"),
    (".collapsed", "folded"),
    (".txt", "folded"),
    (".svg", "svg"),
    (".html", "html"),
    (".htm", "html"),
    (".otlp", "otlp"),
    (".binpb", "otlp"),
)
NAMES_HELP = "profile.pb.gz (pprof), .folded, .svg, .html, .speedscope.json, or a name with 'otlp'"


class UnknownFormatError(ValueError):
    """A file name whose extension names no output format, or an unknown format name."""


def format_for_path(path: str) -> str:
    """The format a file name asks for. No extension at all means pprof (``-o /dev/stdout``);
    an extension we do not know is an error naming the formats (never a silent pprof)."""
    name = os.path.basename(path).lower()
    if "otlp" in name:
        return "otlp"
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    if "." not in name.lstrip("."):
        return "pprof"
    ext = name[name.rindex(".") :]
    hint = " (speedscope files end in .speedscope.json)" if ext == ".json" else ""
    raise UnknownFormatError(
        f"cannot tell the output format of {path!r} from its extension {ext!r}{hint}: "
        f"name it {NAMES_HELP}, or pass --format {'|'.join(FORMATS)}"
    )


def render(profile: Profile, fmt: str, sample_index: int | None = None) -> bytes:
    """The bytes of a ``pprof``, ``svg``, ``html`` or ``speedscope`` file of ``profile``.

    The rendered formats show one sample type: ``sample_index`` or the profile's default.
    """
    if fmt == "pprof":
        return gzip.compress(profile.encode(), compresslevel=6, mtime=0)
    title = ProfileTitle.from_profile(profile, sample_index)
    if fmt == "html":
        from .html_flamegraph import render_html

        return render_html(profile, title=title, sample_index=sample_index).encode()
    if fmt == "svg":
        from .svg_flamegraph import render_svg

        return render_svg(profile, title=title, sample_index=sample_index).encode()
    if fmt == "speedscope":
        from .speedscope import render_speedscope

        return render_speedscope(profile, title=title, sample_index=sample_index).encode()
    raise UnknownFormatError(
        f"unknown format {fmt!r} for a pprof profile: choose pprof, svg, html or speedscope"
    )
