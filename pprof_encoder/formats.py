"""Reading and writing profiles in any of our formats, guessing the format when not told.

Formats: ``pprof`` (gzip-compressed on output, either on input), ``otlp`` (an
``ExportProfilesServiceRequest``; gzip-compressed only when the file name ends in ``.gz``) and
``folded`` (collapsed stack lines).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Mapping

from .decode import parse
from .folded import FoldedFormatError, format_folded, parse_folded
from .merge import merge
from .names import FORMATS, format_from_name
from .otlp import AttributeValue, decode_request, encode_request
from .profile import Profile
from .validate import check_valid
from .wire import DecodeError

__all__ = ["FORMATS", "dump", "format_from_name", "load", "otlp_to_profile"]


def _gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DecodeError(f"corrupt gzip data: {err}") from None


def _looks_folded(data: bytes) -> bool:
    """Whether the first 4 KiB read as folded lines (the last, maybe cut, line aside)."""
    # "replace": the 4 KiB cut may split a UTF-8 character; only the counts matter here.
    head = data[:4096].decode(errors="replace").splitlines()
    if len(data) > 4096:
        head = head[:-1]
    lines = [ln for ln in head if ln.strip() and not ln.startswith("#")]
    return bool(lines) and all(ln.rpartition(" ")[2].lstrip("-").isdigit() for ln in lines)


def otlp_to_profile(data: bytes) -> Profile:
    """Decode an OTLP request and merge all its profiles into one pprof profile."""
    profiles = [p for r in decode_request(data) for p in r.profiles]
    if not profiles:
        raise DecodeError("the OTLP request holds no profiles")
    profile = merge(profiles)
    check_valid(profile)
    return profile


def load(data: bytes, fmt: str | None = None) -> Profile:
    """A profile from the bytes of a file in format ``fmt`` (guessed from the content if None)."""
    data = _gunzip(data)
    if fmt == "folded" or (fmt is None and _looks_folded(data)):
        try:
            return parse_folded(io.StringIO(data.decode()))
        except UnicodeDecodeError as err:
            raise FoldedFormatError(f"folded input is not UTF-8 text: {err}") from None
    if fmt == "pprof":
        return parse(data)
    if fmt == "otlp":
        return otlp_to_profile(data)
    if fmt is not None:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        return parse(data)
    except ValueError as pprof_error:
        try:
            return otlp_to_profile(data)
        except ValueError as otlp_error:
            raise DecodeError(
                f"not a pprof profile ({pprof_error}) nor an OTLP request ({otlp_error}); "
                "name the format with --from"
            ) from None


def dump(
    profile: Profile,
    fmt: str,
    compress: bool = False,
    resource: Mapping[str, AttributeValue] | None = None,
) -> bytes:
    """The bytes of ``profile`` in format ``fmt`` (pprof is always gzip-compressed).

    OTLP: one resource per service the samples' labels name, each with the ``resource``
    attributes (see :mod:`.resources`)."""
    if fmt == "pprof":
        return gzip.compress(profile.encode(), compresslevel=6, mtime=0)
    if fmt == "folded":
        data = format_folded(profile).encode()
    elif fmt == "otlp":
        from .resources import resources_of

        data = encode_request(resources_of(profile, resource))
    else:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return gzip.compress(data, mtime=0) if compress else data
