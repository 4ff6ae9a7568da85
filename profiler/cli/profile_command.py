"""``python -m profiler``: profile the whole machine (or chosen processes) and write a profile.

Everything that can be checked is checked before anything is loaded: the options (one line
each), the targets (gone, zombie, kernel thread), the output format and the output file (its
temp file is created at once, so an unwritable directory fails now, not after the run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..output.formats import FORMATS, UnknownFormatError, format_for_path
from .flags import add_stack_flags, add_target_flags, session_options
from .signals import StopOnSignals

EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    """The parser of the one-shot profiler."""
    p = argparse.ArgumentParser(
        prog="python -m profiler",
        description="Sample CPUs with eBPF and write a CPU profile (pprof by default). "
        "Run `python -m profiler agent --help` for the continuous agent.",
    )
    add_target_flags(p)
    out = p.add_argument_group("how long, and where to")
    out.add_argument(
        "--duration",
        "-d",
        type=float,
        default=None,
        help="seconds to profile (default: until Ctrl-C or SIGTERM)",
    )
    out.add_argument("--output", "-o", default="profile.pb.gz", help="output file (profile.pb.gz)")
    out.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default=None,
        help="output format (default: from the file name: .pb.gz, .folded, .svg, .html, "
        ".speedscope.json, *otlp*)",
    )
    out.add_argument("--top", type=int, default=15, help="functions to print at the end (15)")
    out.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    add_stack_flags(p)
    return p


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"profiler: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, stop: StopOnSignals) -> int:
    """Profile as ``args`` say; returns the exit status."""
    from pybpf.errors import BPFError

    from ..output.files import AtomicFile
    from ..output.title import describe_targets
    from ..session import OptionError, Session, UnknownProcessError

    if args.duration is not None and not 0 < args.duration <= 366 * 86400:
        return _fail(f"--duration must be a positive number of seconds, not {args.duration:g}")
    if args.top < 0:
        return _fail(f"--top must be 0 or more, not {args.top}")
    try:
        fmt = args.format or format_for_path(args.output)
        options = session_options(args)
    except (OptionError, UnknownFormatError) as exc:
        return _fail(str(exc))
    try:
        out = AtomicFile(args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    with out:
        try:
            session = Session(options)
        except (UnknownProcessError, OptionError) as exc:
            return _fail(str(exc))
        with session:
            if stop.stopped:
                return _fail("interrupted before sampling started; nothing written", 128 + 2)
            try:
                session.start()
            except (BPFError, OSError) as exc:
                return _fail(str(exc), EXIT_FAILED)
            title = describe_targets(args.pids, args.cgroup)  # command lines, while they run
            pids = ", ".join(map(str, args.pids))
            target = f"pid {pids}" if pids else "the whole machine"
            length = f"{args.duration:g} s" if args.duration else "until Ctrl-C"
            say(f"Profiling {target} at {args.freq} Hz, {length}...")
            _wait(session, args, stop)
            profile = session.stop()
        profile.title = title
        out.commit(profile.encode(fmt))
    if not args.quiet:
        print(profile.top_table(args.top))
        if profile.off_cpu is not None:
            from ..output.wall_view import off_cpu_summary

            print(off_cpu_summary(profile.to_pprof(), profile.off_cpu))
        ks, ps = profile.kernel_stats, profile.pipeline_stats
        print(
            f"\nWrote {args.output} ({fmt}): {profile.total} samples "
            f"in {profile.duration:.1f} s; "
            f"lost {ks.lost} (counts map full), incomplete stacks {ks.incomplete} "
            f"(collisions {ks.user_stack_collisions + ks.kernel_stack_collisions}), "
            f"unsymbolized frames {ps.unsymbolized_frames} of {ps.frames}"
        )
    return 0


def _wait(session: object, args: argparse.Namespace, stop: StopOnSignals) -> None:
    """Until the duration is over or a signal comes, with a progress line on a terminal."""
    deadline = time.monotonic() + args.duration if args.duration else None
    tty = sys.stderr.isatty() and not args.quiet
    while not stop.stopped:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        stop.wait(min(1.0, left) if left is not None else 1.0)
        if tty:
            st = session.pipeline.stats  # type: ignore[attr-defined]
            elapsed = time.time() - session.started_at  # type: ignore[attr-defined]
            sys.stderr.write(f"\r  {elapsed:6.1f} s  {st.samples} samples  {st.stacks} stacks ")
            sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")


def main(argv: list[str], stop: StopOnSignals) -> int:
    """The one-shot profiler (``stop``: the signal handling of :mod:`.signals`)."""
    args = build_parser().parse_args(argv)
    if os.geteuid() != 0:
        print(
            "profiler: warning: not root; loading BPF programs needs CAP_BPF and CAP_PERFMON "
            "(and kernel.perf_event_paranoid <= 2)",
            file=sys.stderr,
        )
    return run(args, stop)
