"""The output formats, how a file name picks one, and the one way from a profile to each.

Every format renders from the one pprof profile a :class:`~.collected.CollectedProfile` builds:
pprof (gzip-compressed, as on disk), folded stacks, OTLP, an SVG flame graph. Formats that
``pprof_encoder`` also reads (pprof, folded, OTLP) are guessed from names by its rule.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from pprof_encoder.formats import format_from_name

if TYPE_CHECKING:
    from .collected import CollectedProfile

FORMATS = ("pprof", "folded", "otlp", "svg")
_OWN_SUFFIXES = {".svg": "svg"}


class UnknownFormatError(ValueError):
    """A file name (or format name) that names none of :data:`FORMATS`."""


def format_for_path(path: str) -> str:
    """The format a file name asks for; ``UnknownFormatError`` when it asks for none.

    ``.pb.gz``, ``.pb``, ``.pprof`` and names without a suffix mean pprof; ``*otlp*`` and
    ``.binpb`` OTLP; ``.folded``, ``.collapsed``, ``.txt`` folded stacks; ``.svg`` an SVG.
    """
    lower = path.lower()
    for suffix, fmt in _OWN_SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    found = format_from_name(path)
    if found is not None:
        return found
    base = lower.rsplit("/", 1)[-1]
    if "." not in base.lstrip("."):
        return "pprof"
    raise UnknownFormatError(
        f"{path}: the name says no format we write ({', '.join(FORMATS)}); "
        "choose one with --format or use .pb.gz, .folded, .svg or an *otlp* name"
    )


def render(profile: CollectedProfile, fmt: str) -> bytes:
    """The bytes of ``profile`` in ``fmt``."""
    if fmt == "pprof":
        return gzip.compress(profile.to_pprof().encode(), mtime=0)
    if fmt == "folded":
        return profile.folded().encode()
    if fmt == "otlp":
        return profile.to_otlp()
    if fmt == "svg":
        return profile.svg().encode()
    raise UnknownFormatError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
