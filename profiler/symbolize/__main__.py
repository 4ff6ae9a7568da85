"""Command line: symbolize addresses of a process or of the kernel.

    python -m profiler.symbolize --pid PID ADDR [ADDR...]
    python -m profiler.symbolize --kernel ADDR [ADDR...]

Addresses are hex (``0x`` optional). One line per frame: address, function, file:line (if known),
module; inlined frames are marked ``(inlined)``. ``--stats`` adds the counters at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..frames.model import Frame
from .debug_files import DEFAULT_DEBUG_ROOTS
from .symbolizer import Symbolizer


def format_frame(frame: Frame) -> str:
    """One line for a frame: ``0xADDR function [file:line] module [(inlined)]``."""
    parts = [f"0x{frame.address:x}", frame.function]
    if frame.file:
        parts.append(f"{frame.file}:{frame.line}")
    parts.append(frame.module_path)
    if frame.inlined:
        parts.append("(inlined)")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m profiler.symbolize", description="Symbolize addresses."
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pid", type=int, help="process whose addresses these are")
    where.add_argument("--kernel", action="store_true", help="kernel addresses")
    parser.add_argument("addresses", nargs="+", help="hex addresses")
    parser.add_argument(
        "--debug-root",
        action="append",
        help=f"where separate debug files live (default: {', '.join(DEFAULT_DEBUG_ROOTS)})",
    )
    parser.add_argument("--no-dwarf", action="store_true", help="symbols only, no file:line")
    parser.add_argument("--stats", action="store_true", help="print the counters at the end")
    args = parser.parse_args(argv)
    try:
        addresses = [int(a, 16) for a in args.addresses]
    except ValueError as e:
        parser.error(f"not a hex address: {e}")
    with Symbolizer(
        debug_roots=args.debug_root or DEFAULT_DEBUG_ROOTS, use_dwarf=not args.no_dwarf
    ) as sym:
        for addr in addresses:
            frames = sym.kernel_frames(addr) if args.kernel else sym.user_frames(args.pid, addr)
            for frame in frames:
                print(format_frame(frame))
        if args.stats:
            for name, value in sym.stats.as_dict().items():
                print(f"{name} = {value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
