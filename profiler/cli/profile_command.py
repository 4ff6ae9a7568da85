"""``python -m profiler``: profile the whole machine (or chosen processes) and write a profile.

Everything that can be checked is checked before anything is loaded: the options (one line
each), the targets (gone, zombie, kernel thread), the output format and the output file (its
temp file is created at once, so an unwritable directory fails now, not after the run). A
``--pid`` run ends when its targets have all exited (``--duration`` is then a maximum).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..output.formats import UnknownFormatError, format_for_path
from .flags import (
    add_off_cpu_flags,
    add_output_flags,
    add_stack_flags,
    add_target_flags,
    session_options,
)
from .program import program_name
from .signals import StopOnSignals

EXIT_USAGE = 2
EXIT_FAILED = 1
# How often the wait loop looks at signals and targets (a drain interval is 1 s).


class UsageError(Exception):
    """A flag or argument the run cannot go on with (one line for the user, exit status 2)."""


def usage_text(prog: str) -> str:
    """The usage lines of every command (perf-style: one line per command)."""
    return (
        f"{prog} [flags]\n"
        f"       {prog} record [flags] -- CMD [ARGS...]\n"
        f"       {prog} top [flags]\n"
        f"       {prog} agent [flags]"
    )


def examples(prog: str) -> str:
    """The examples at the end of ``--help``."""
    return f"""commands:
  (none)   profile for a while (--duration, Ctrl-C, or until the --pid processes exit)
  record   run a command and profile it (and its children) until it exits
  top      a live view of the hottest functions, refreshed every second
  agent    always-on profiling, one profile per interval, sent to OTLP, Pyroscope or files

examples:
  # the whole machine for 10 s, into profile.pb.gz
  {prog} -d 10
  # pid 4242 and its children at 997 Hz until they exit (or Ctrl-C): a flame graph page
  {prog} -p 4242 -F 997 -o flame.html
  # a container (its cgroup v2 directory) for 30 s
  {prog} -G /sys/fs/cgroup/system.slice/nginx.service -d 30 -o nginx.pb.gz
  # where pid 4242 waits too: off-CPU time beside CPU, wall-clock per thread
  {prog} -p 4242 --wall -d 30 -o app.pb.gz
  # run a command and profile it and its children; its exit status is ours
  {prog} record -o build.html -- make -j2
  # live: self %, total %, function, process (library), refreshed every second
  {prog} top -p 4242
  # look at a pprof file: a flame graph and more in the browser
  go tool pprof -http=: profile.pb.gz

""" + wrap(
        f"{prog} record --help, {prog} top --help and {prog} agent --help tell about "
        "those commands. Needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux "
        "5.8)."
    )


def wrap(text: str) -> str:
    """A paragraph filled to the width ``--help`` uses (the raw formatter keeps it as is)."""
    import shutil
    import textwrap

    width = min(100, shutil.get_terminal_size().columns - 2)
    return textwrap.fill(" ".join(text.split()), width)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of the one-shot profiler (``prog``: the name in its usage; default: how we
    were run)."""
    prog = prog or program_name()
    p = argparse.ArgumentParser(
        prog=prog,
        usage=usage_text(prog),
        description=wrap(
            "Sample CPUs with eBPF and write a CPU profile: pprof by default, or the format "
            "the output file's name asks for (.html flame graph, .svg, .speedscope.json, "
            ".folded, OTLP). The run ends at --duration, at Ctrl-C or SIGTERM, or when the "
            "--pid processes have all exited; the profile is written in every case."
        ),
        epilog=examples(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_flags(p)
    add_output_flags(p, duration=True)
    add_off_cpu_flags(p)
    add_stack_flags(p)
    return p


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"profiler: {message}", file=sys.stderr)
    return code


def check_output(args: argparse.Namespace) -> str:
    """Check --top and --duration (when the parser has it); the output format."""
    duration = getattr(args, "duration", None)
    if duration is not None and not 0 < duration <= 366 * 86400:
        raise UsageError(f"--duration must be a positive number of seconds, not {duration:g}")
    if args.top < 0:
        raise UsageError(f"--top must be 0 or more, not {args.top}")
    try:
        return args.format or format_for_path(args.output)
    except UnknownFormatError as exc:
        raise UsageError(str(exc)) from None


def write_and_report(profile: object, out: object, args: argparse.Namespace, fmt: str) -> None:
    """Commit the profile to the output file, then print the summary (unless --quiet)."""
    from .report import summary

    out.commit(profile.encode(fmt))  # type: ignore[attr-defined]
    if not args.quiet:
        print(summary(profile, args.output, fmt, args.top))  # type: ignore[arg-type]


def run(args: argparse.Namespace, stop: StopOnSignals) -> int:
    """Profile as ``args`` say; returns the exit status."""
    from pybpf.errors import BPFError

    from ..output.files import AtomicFile
    from ..output.title import describe_targets
    from ..session import OptionError, Session, UnknownProcessError

    try:
        fmt = check_output(args)
        options = session_options(args)
    except (OptionError, UsageError) as exc:
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
            target = f"pid {pids}" if pids else (args.cgroup or "the whole machine")
            until = "until they exit or Ctrl-C" if pids else "until Ctrl-C"
            length = f"{args.duration:g} s at most" if args.duration else until
            say(f"Profiling {target} at {args.freq} Hz, {length}...")
            if _wait(session, args, stop):
                say("All target processes have exited.")
            profile = session.stop()
        profile.title = title
        write_and_report(profile, out, args, fmt)
    return 0


def _wait(session: object, args: argparse.Namespace, stop: StopOnSignals) -> bool:
    """Until the duration is over, a signal comes or the targets have all exited (then True),
    with a progress line on a terminal."""
    deadline = time.monotonic() + args.duration if args.duration else None
    exited = session.targets_exited  # type: ignore[attr-defined]
    session.when_targets_exit(stop.event.set)  # type: ignore[attr-defined]
    tty = sys.stderr.isatty() and not args.quiet
    next_progress = time.monotonic()
    while not stop.stopped and not exited.is_set():
        now = time.monotonic()
        left = None if deadline is None else deadline - now
        if left is not None and left <= 0:
            break
        if tty and now >= next_progress:
            next_progress = now + 1.0
            st = session.pipeline.stats  # type: ignore[attr-defined]
            elapsed = time.time() - session.started_at  # type: ignore[attr-defined]
            sys.stderr.write(f"\r  {elapsed:6.1f} s  {st.samples} samples  {st.stacks} stacks ")
            sys.stderr.flush()
        # A signal or the last target's exit sets the event: nothing to poll for. Wake up only
        # for the progress line.
        wake = 1.0 if tty else None
        stop.wait(wake if left is None else min(left, wake or left))
    if tty:
        sys.stderr.write("\n")
    return exited.is_set()


def main(argv: list[str], stop: StopOnSignals) -> int:
    """The one-shot profiler (``stop``: the signal handling of :mod:`.signals`)."""
    prog = program_name()
    if "--" in argv:
        return _fail(f"to run a command under the profiler: {prog} record [flags] -- CMD ARGS...")
    args = build_parser(prog).parse_args(argv)
    if os.geteuid() != 0:
        print(
            "profiler: warning: not root; loading BPF programs needs CAP_BPF and CAP_PERFMON "
            "(and kernel.perf_event_paranoid <= 2)",
            file=sys.stderr,
        )
    return run(args, stop)
