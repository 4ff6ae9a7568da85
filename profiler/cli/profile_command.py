"""``python -m profiler``: profile the whole machine (or chosen processes) and write a profile."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from ..output.collected import FORMATS, guess_format


def add_sampling_flags(p: argparse.ArgumentParser) -> None:
    """The sampling flags shared by the one-shot CLI and the agent."""
    p.add_argument("--freq", "-F", type=int, default=99, help="samples per second per CPU (99)")
    p.add_argument(
        "--pid",
        "-p",
        type=int,
        action="append",
        default=[],
        dest="pids",
        help="profile this process and its children (repeatable); default: all",
    )
    p.add_argument("--cgroup", help="profile only this cgroup v2 directory (a container)")
    p.add_argument("--no-kernel", action="store_true", help="no kernel stacks")
    p.add_argument("--no-user", action="store_true", help="no user stacks")
    p.add_argument("--include-idle", action="store_true", help="count the idle task too")
    p.add_argument(
        "--stack-map-size", type=int, default=10000, help="entries of the stack-trace map (10000)"
    )
    p.add_argument("--max-stack-depth", type=int, default=127, help="frames per stack (127)")
    p.add_argument(
        "--async-stacks",
        choices=("auto", "on", "off"),
        default="auto",
        help="logical async stacks for Rust Tokio (auto: when Tokio is seen)",
    )
    p.add_argument(
        "--unwind",
        choices=("auto", "fp", "dwarf"),
        default="auto",
        help="user stacks: frame pointers, DWARF CFI over a copied stack, or per binary (auto)",
    )
    p.add_argument(
        "--stack-copy-size",
        type=int,
        default=8192,
        help="bytes of user stack copied per sample for DWARF unwinding (8192; a power of two)",
    )
    p.add_argument(
        "--spawn-links",
        action="store_true",
        help="Tokio: show the stack that spawned each task under it (uprobes; needs --pid)",
    )
    p.add_argument(
        "--debug-info",
        choices=("auto", "on", "off"),
        default="auto",
        help="DWARF file:line and inlined frames (auto: with --pid/--cgroup only)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the one-shot profiler."""
    p = argparse.ArgumentParser(
        prog="python -m profiler",
        description="Sample CPUs with eBPF and write a CPU profile (pprof by default). "
        "Run `python -m profiler agent --help` for the continuous agent.",
    )
    add_sampling_flags(p)
    p.add_argument(
        "--duration",
        "-d",
        type=float,
        default=None,
        help="seconds to profile (default: until Ctrl-C or SIGTERM)",
    )
    p.add_argument("--output", "-o", default="profile.pb.gz", help="output file (profile.pb.gz)")
    p.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default=None,
        help="output format (default: from the file name: .pb.gz, .folded, .svg, .html, "
        ".speedscope.json, *otlp*)",
    )
    p.add_argument("--top", type=int, default=15, help="functions to print at the end (15)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    return p


def session_options(args: argparse.Namespace):
    """SessionOptions from parsed sampling flags."""
    from ..session.session import SessionOptions

    return SessionOptions(
        freq=args.freq,
        pids=args.pids,
        cgroup=args.cgroup,
        user_stacks=not args.no_user,
        kernel_stacks=not args.no_kernel,
        include_idle=args.include_idle,
        stack_map_size=args.stack_map_size,
        max_stack_depth=args.max_stack_depth,
        async_stacks=args.async_stacks,
        debug_info=args.debug_info,
        unwind=args.unwind,
        stack_copy_size=args.stack_copy_size,
        spawn_links=args.spawn_links,
    )


class _StopOnSignals:
    """Turn SIGINT and SIGTERM into an event, restoring the old handlers afterwards."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: dict[int, object] = {}

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, lambda *_: self.event.set())
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    """Profile as ``args`` say; returns the exit status."""
    from pybpf.errors import BPFError

    from ..output.title import describe_targets
    from ..session.session import Session, UnknownProcessError

    try:
        fmt = args.format or guess_format(args.output)
    except ValueError as exc:
        print(f"profiler: {exc}", file=sys.stderr)
        return 2
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    try:
        session = Session(session_options(args))
    except (UnknownProcessError, ValueError) as exc:
        print(f"profiler: {exc}", file=sys.stderr)
        return 2
    with session, _StopOnSignals() as stop:
        try:
            session.start()
        except (BPFError, OSError) as exc:
            print(f"profiler: {exc}", file=sys.stderr)
            return 1
        title = describe_targets(args.pids, args.cgroup)  # the command lines, while the targets run
        target = "the whole machine" if not args.pids else f"pid {', '.join(map(str, args.pids))}"
        length = f"{args.duration:g} s" if args.duration else "until Ctrl-C"
        say(f"Profiling {target} at {args.freq} Hz, {length}...")
        deadline = time.monotonic() + args.duration if args.duration else None
        tty = sys.stderr.isatty() and not args.quiet
        while not stop.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            stop.wait(min(1.0, left) if left is not None else 1.0)
            if tty:
                st = session.pipeline.stats
                elapsed = time.time() - session.started_at
                sys.stderr.write(f"\r  {elapsed:6.1f} s  {st.samples} samples  {st.stacks} stacks ")
                sys.stderr.flush()
        if tty:
            sys.stderr.write("\n")
        profile = session.stop()
    profile.write(args.output, fmt, title)
    if not args.quiet:
        print(profile.top_table(args.top))
        ks, ps = profile.kernel_stats, profile.pipeline_stats
        print(
            f"\nWrote {args.output} ({fmt}): {profile.total} samples "
            f"in {profile.duration:.1f} s; "
            f"lost {ks.lost} (counts map full), incomplete stacks {ks.incomplete} "
            f"(collisions {ks.user_stack_collisions + ks.kernel_stack_collisions}), "
            f"unsymbolized frames {ps.unsymbolized_frames} of {ps.frames}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m profiler``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["agent"]:
        from ..agent.agent import main as agent_main

        return agent_main(argv[1:])
    args = build_parser().parse_args(argv)
    if os.geteuid() != 0:
        print(
            "profiler: warning: not root; loading BPF programs needs CAP_BPF and CAP_PERFMON "
            "(and kernel.perf_event_paranoid <= 2)",
            file=sys.stderr,
        )
    return run(args)
