"""``python -m pprof_encoder``: convert between pprof, OTLP and folded stacks; print a top table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .formats import FORMATS, dump, format_from_name, load
from .top import format_top


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _write(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as f:
        f.write(data)


def _convert(args: argparse.Namespace) -> None:
    src = args.src or (format_from_name(args.input) if args.input != "-" else None)
    profile = load(_read(args.input), src)
    dst = args.dst or (format_from_name(args.output) if args.output != "-" else "folded")
    if dst is None:
        raise ValueError(
            f"cannot tell the output format from {args.output!r}: pass --to pprof|folded|otlp"
        )
    compress = dst != "pprof" and args.output.endswith(".gz")
    resource = None
    if args.resource:
        if dst != "otlp":
            raise ValueError("--resource sets OTLP resource attributes: use it with --to otlp")
        from .resources import parse_attributes

        resource = parse_attributes(args.resource)
    _write(args.output, dump(profile, dst, compress, resource))


def _top(args: argparse.Namespace) -> None:
    profile = load(_read(args.file), args.src)
    index = profile.sample_index(args.sample_index) if args.sample_index else None
    sys.stdout.write(format_top(profile, args.n, index))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m pprof_encoder``."""
    parser = argparse.ArgumentParser(
        prog="python -m pprof_encoder",
        description="Convert profiles between pprof, OTLP and folded stacks; print a top table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert IN to OUT ('-' for stdin/stdout)")
    conv.add_argument("input", metavar="IN")
    conv.add_argument("output", metavar="OUT")
    conv.add_argument("--from", dest="src", choices=FORMATS, help="input format (default: guess)")
    conv.add_argument("--to", dest="dst", choices=FORMATS, help="output format (default: guess)")
    conv.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="OTLP output: a resource attribute, e.g. service.name=checkout or "
        "host.name=node-1 (repeatable; wins over the service named by the samples' "
        "service.name or service_name labels, which otherwise give one resource per service)",
    )
    conv.set_defaults(run=_convert)
    top = sub.add_parser("top", help="flat and cumulative totals per function")
    top.add_argument("file", metavar="FILE")
    top.add_argument("-n", type=int, default=None, help="show the top N functions only")
    top.add_argument("--from", dest="src", choices=FORMATS, help="input format (default: guess)")
    top.add_argument("--sample-index", default="", help="sample type name (default: the last)")
    top.set_defaults(run=_top)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (errors are one line on stderr, status 1)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError) as err:
        print(f"pprof_encoder: error: {err}", file=sys.stderr)
        return 1
    return 0
