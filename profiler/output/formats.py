"""The profiler's output formats: their names, the file names that ask for them, and one
``render`` from the pprof profile to the bytes of a file.

Every file format renders from the one ``pprof_encoder`` profile the profiler builds (the title
rides in its comments, see :mod:`.title`): pprof itself, folded stacks, OTLP (one resource per
process, split by the ``pid`` label), the SVG and HTML flame graphs, speedscope JSON. File names
of the formats ``pprof_encoder`` also reads are judged by its rule (one rule for both tools);
this module adds the profiler's own.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pprof_encoder.names import format_from_name

if TYPE_CHECKING:
    from pprof_encoder.profile import Profile

FORMATS = ("pprof", "folded", "otlp", "svg", "html", "speedscope")
KERNEL_SUFFIX = "_[k]"  # flamegraph.pl's marker of kernel frames in folded stacks

# The profiler's own formats (pprof_encoder's rule knows pprof, folded and OTLP names).
_OWN_SUFFIXES = (
    (".speedscope.json", "speedscope"),
    (".svg", "svg"),
    (".html", "html"),
    (".htm", "html"),
)
NAMES_HELP = "profile.pb.gz (pprof), .folded, .svg, .html, .speedscope.json, or a name with 'otlp'"


class UnknownFormatError(ValueError):
    """A file name whose extension names no output format, or an unknown format name."""


def format_for_path(path: str) -> str:
    """The format a file name asks for. No extension at all means pprof (``-o /dev/stdout``);
    an extension we do not know is an error naming the formats (never a silent pprof)."""
    name = os.path.basename(path).lower()
    for suffix, fmt in _OWN_SUFFIXES:
        if name.endswith(suffix):
            return fmt
    found = format_from_name(name)
    if found is not None:
        return found
    if "." not in name.removesuffix(".gz").lstrip("."):
        return "pprof"
    ext = name[name.rindex(".") :]
    hint = " (speedscope files end in .speedscope.json)" if ext == ".json" else ""
    raise UnknownFormatError(
        f"cannot tell the output format of {path!r} from its extension {ext!r}{hint}: "
        f"name it {NAMES_HELP}, or pass --format {'|'.join(FORMATS)}"
    )


def render(
    profile: Profile,
    fmt: str,
    sample_index: int | None = None,
    *,
    resource: Mapping[str, str | int] | None = None,
) -> bytes:
    """The bytes of a file of ``profile`` in ``fmt`` (pprof is gzip-compressed, as on disk).

    Folded stacks count samples; the flame graphs show one sample type (``sample_index`` or the
    profile's default). ``resource``: OTLP resource attributes shared by every process.
    """
    if fmt == "pprof":
        return gzip.compress(profile.encode(), compresslevel=6, mtime=0)
    if fmt == "folded":
        from pprof_encoder.folded import format_folded

        from .pprof import COUNT_INDEX

        index = COUNT_INDEX if sample_index is None else sample_index
        return format_folded(
            profile, index, root_label="process_name", kernel_suffix=KERNEL_SUFFIX
        ).encode()
    if fmt == "otlp":
        from .pprof import build_otlp

        return build_otlp(profile, resource or {})
    from .title import ProfileTitle

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
    raise UnknownFormatError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
